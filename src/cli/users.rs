//! `oshirase users add|list|disable|enable|passwd`: the people of `people.json`, changed
//! while `serve` runs (it reads the file again within a second).

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use chrono::Utc;

use crate::cli::args::{UsersArgs, UsersCommand};
use crate::web::auth::people::{NewPerson, PasswordOrigin, People, PeopleError};

#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    #[error(transparent)]
    People(#[from] PeopleError),
    #[error("reading the password: {0}")]
    Read(std::io::Error),
    #[error("the two passwords typed differ; nothing was changed")]
    Mismatch,
}

/// Runs one `users` command; what it prints goes to `out`.
pub fn run(args: UsersArgs, out: &mut dyn Write) -> Result<(), UsersError> {
    let dir = args.data.as_path();
    let mut people = People::load(dir)?;
    let now = Utc::now();
    match args.command {
        UsersCommand::Add {
            email,
            name,
            department,
            role,
            iterations,
        } => {
            let password = read_password(&format!("Password for {email}: "))?;
            people.add(
                NewPerson {
                    email: &email,
                    name: &name,
                    department: department.as_deref(),
                    role,
                    password: &password,
                    origin: PasswordOrigin::Own,
                    iterations,
                },
                now,
            )?;
            save(&people, dir)?;
            let _ = writeln!(out, "added {email} ({role})");
        }
        UsersCommand::List => list(&people, out),
        UsersCommand::Disable { email } => {
            people.set_disabled(&email, true, now)?;
            save(&people, dir)?;
            let _ = writeln!(out, "disabled {email}; their sessions end at once");
        }
        UsersCommand::Enable { email } => {
            people.set_disabled(&email, false, now)?;
            save(&people, dir)?;
            let _ = writeln!(out, "enabled {email}");
        }
        UsersCommand::Passwd { email, iterations } => {
            // Fail before asking when the person does not exist.
            if people.find(&email).is_none() {
                return Err(PeopleError::Unknown(email).into());
            }
            let password = read_password(&format!("New password for {email}: "))?;
            people.set_password(&email, &password, PasswordOrigin::Own, iterations, now)?;
            save(&people, dir)?;
            let _ = writeln!(out, "changed the password of {email}");
        }
    }
    Ok(())
}

fn save(people: &People, dir: &Path) -> Result<(), UsersError> {
    people.save(dir)?;
    Ok(())
}

fn list(people: &People, out: &mut dyn Write) {
    if people.is_empty() {
        let _ = writeln!(out, "nobody yet; add people with `oshirase users add`");
        return;
    }
    for p in people.all() {
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}{}",
            p.email,
            p.name,
            p.department.as_deref().unwrap_or("-"),
            p.role,
            if p.disabled { "\tdisabled" } else { "" }
        );
    }
}

/// From a terminal: asked twice without echo. Otherwise the first line of standard input,
/// so scripts can pipe it in; never a command-line argument, which `ps` would show.
fn read_password(prompt: &str) -> Result<String, UsersError> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(prompt).map_err(UsersError::Read)?;
        let again = rpassword::prompt_password("Again: ").map_err(UsersError::Read)?;
        if first != again {
            return Err(UsersError::Mismatch);
        }
        return Ok(first);
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(UsersError::Read)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}
