//! `--user NAME`: run the command as another user (as sops's `exec-env`/`exec-file
//! --user`). The account is looked up in /etc/passwd (a name or a numeric uid); the
//! child gets its uid and primary gid through `CommandExt::uid`/`gid`, which also clears
//! the supplementary groups when leafseal runs as root. Only root may switch users.

use std::os::unix::process::CommandExt;
use std::process::Command;

use crate::error::Error;
use crate::error::exit;

/// A resolved account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Account {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
}

/// Finds `name` (or a numeric uid) in passwd-format text.
pub fn lookup_in(passwd: &str, name: &str) -> Option<Account> {
    passwd.lines().find_map(|line| {
        let mut f = line.split(':');
        let n = f.next()?;
        let _pw = f.next()?;
        let uid: u32 = f.next()?.parse().ok()?;
        let gid: u32 = f.next()?.parse().ok()?;
        (n == name || name.parse::<u32>().ok() == Some(uid)).then_some(Account { uid, gid })
    })
}

/// Resolves `--user` and checks that leafseal may switch to it.
pub fn resolve(name: &str) -> Result<Account, Error> {
    let passwd = std::fs::read_to_string("/etc/passwd").map_err(|e| {
        Error::new(
            exit::GENERIC,
            format!("cannot read /etc/passwd to look up the user `{name}`: {e}"),
        )
    })?;
    let Some(acct) = lookup_in(&passwd, name) else {
        return Err(Error::new(
            exit::GENERIC,
            format!("there is no user `{name}` in /etc/passwd"),
        )
        .hint("give --user an existing local user name or numeric uid"));
    };
    let me = rustix::process::geteuid().as_raw();
    if me != 0 && me != acct.uid {
        return Err(Error::new(
            exit::GENERIC,
            format!("only root can run the command as another user (`{name}`)"),
        )
        .hint("run leafseal as root (e.g. with sudo), or leave out --user"));
    }
    Ok(acct)
}

/// Makes the command run as `acct`.
pub fn apply(cmd: &mut Command, acct: Account) {
    cmd.uid(acct.uid).gid(acct.gid);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_uids() {
        let p =
            "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/:/usr/sbin/nologin\n";
        assert_eq!(
            lookup_in(p, "nobody"),
            Some(Account {
                uid: 65534,
                gid: 65534
            })
        );
        assert_eq!(lookup_in(p, "0"), Some(Account { uid: 0, gid: 0 }));
        assert_eq!(lookup_in(p, "nob"), None);
    }
}
