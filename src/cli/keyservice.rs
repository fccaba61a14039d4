//! `leafseal keyservice`: serve sops's gRPC key service with this machine's keys.

use clap::Args;

use crate::error::Error;

/// Arguments of `keyservice` (sops's flags and defaults).
#[derive(Debug, Args)]
pub struct KeyserviceArgs {
    /// Network to listen on: tcp or unix.
    #[arg(
        long,
        visible_alias = "net",
        default_value = "tcp",
        value_name = "NETWORK"
    )]
    pub network: String,
    /// Address to listen on: HOST:PORT for tcp (port 0 picks a free one), a socket path
    /// for unix (created 0600, removed on exit).
    #[arg(
        long,
        visible_alias = "addr",
        default_value = "127.0.0.1:5000",
        value_name = "ADDRESS"
    )]
    pub address: String,
    /// Ask before answering each request (a y/n line on standard input), naming the
    /// operation and the key, never the data.
    #[arg(long)]
    pub prompt: bool,
    /// Log each request (operation, key kind and id, outcome) to standard error.
    #[arg(long)]
    pub verbose: bool,
    /// Connections served at once; one more is closed as soon as it is accepted. A
    /// connection that sends nothing for 10 seconds after connecting, or that stays
    /// silent for 10 minutes, is closed too.
    #[arg(long, default_value_t = 64, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub max_connections: u16,
    /// Seconds a connection has, after connecting or after its last answer, to deliver
    /// a whole request; a connection that only trickles bytes is closed then (a request
    /// being handled, a `--prompt` question included, is not cut short).
    #[arg(long, default_value_t = 30, value_name = "SECS", value_parser = clap::value_parser!(u16).range(1..))]
    pub request_within: u16,
}

#[cfg(not(feature = "keyservice"))]
pub fn run(_args: &KeyserviceArgs) -> Result<i32, Error> {
    Err(Error::new(
        crate::error::exit::GENERIC,
        "this leafseal was built without key service support",
    )
    .hint("use a build with the `keyservice` cargo feature (on by default)"))
}

/// Asks on standard error, reads a y/n line on standard input; end of input refuses.
#[cfg(feature = "keyservice")]
fn ask(info: &crate::keyservice::server::RequestInfo) -> bool {
    use std::io::BufRead;
    use std::io::Write;
    let stdin = std::io::stdin();
    loop {
        let _ = write!(
            std::io::stderr(),
            "\nReceived {} request using {} key {}. Respond to request? (y/n): ",
            info.operation,
            info.kind.field(),
            info.id
        );
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        match stdin.lock().read_line(&mut line) {
            Ok(0) | Err(_) => return false,
            Ok(_) => {}
        }
        match line.trim().to_ascii_lowercase().as_str() {
            "y" | "yes" => return true,
            "n" | "no" => return false,
            _ => {}
        }
    }
}

/// Runs the key service until a signal that ends a process (SIGINT, SIGTERM, …).
#[cfg(feature = "keyservice")]
pub fn run(args: &KeyserviceArgs) -> Result<i32, Error> {
    use std::sync::Arc;

    use crate::keyservice::Address;
    use crate::keyservice::server;

    let address = Address::listen(&args.network, &args.address)?;
    let prompt: Option<server::PromptFn> = args.prompt.then(|| Arc::new(ask) as server::PromptFn);
    let log: Option<server::LogFn> = args
        .verbose
        .then(|| Arc::new(|line: &str| say!("leafseal keyservice: {line}")) as server::LogFn);
    let opts = server::ServerOptions {
        address,
        prompt,
        log,
        on_listen: Box::new(|addr: &str| {
            say!(
                "leafseal keyservice: listening on {addr} (plaintext gRPC: keep it on loopback or a unix socket, and forward it over SSH)"
            );
        }),
        limits: server::Limits {
            max_connections: usize::from(args.max_connections),
            between_requests: std::time::Duration::from_secs(u64::from(args.request_within)),
            ..server::Limits::default()
        },
    };
    // The server stops on a signal itself (in-flight requests finish, the socket is
    // removed): the signal thread must not end the process first. It runs from now on,
    // recording: the server watches what it records, so that the signals tokio does not
    // watch (the real-time ones) stop it in order too instead of killing it.
    crate::io::signals::defer()?;
    server::serve(crate::cli::local_key_context(), opts)?;
    say!("leafseal keyservice: stopped");
    Ok(0)
}
