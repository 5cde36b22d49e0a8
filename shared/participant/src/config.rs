//! What every participant reads from its environment. A service's own config flattens
//! [`Settings`]; [`command`] fills in what depends on the participant: its database variable
//! (`<NAME>_DATABASE_URL`) and its default address (`0.0.0.0:<port>`).

use std::ffi::OsString;

use anyhow::Context;
use clap::{CommandFactory, FromArgMatches};
use events::Participant;
use messaging::cli::{AdminCommand, Retention};

/// Configuration from environment variables (or the matching flags; `--help` lists both).
#[derive(Clone, Debug, clap::Parser)]
pub struct Settings {
    /// Address the HTTP API binds to; port 0 picks a free port (tests).
    #[arg(long, env = "HTTP_ADDR")]
    pub http_addr: String,
    /// The service's database (the role and schema of its name), through the `postgres` proxy.
    #[arg(long, hide_env_values = true)]
    pub database_url: String,
    /// Kafka bootstrap servers (the `kafka` proxy).
    #[arg(long, env = "KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    pub kafka_brokers: String,
    /// This replica's static consumer-group membership (`group.instance.id`), unique among the
    /// service's replicas: a restart after a crash then takes its partitions back at once.
    /// `{hostname}` in it stands for the host's name, so the containers of a scaled compose
    /// service, which share one environment, are each a member of their own.
    #[arg(long, env = "KAFKA_GROUP_INSTANCE_ID")]
    pub kafka_group_instance_id: Option<String>,
    #[command(flatten)]
    pub retention: Retention,
    /// An admin task instead of serving (replay, DLQ).
    #[command(subcommand)]
    pub admin: Option<AdminCommand>,
}

impl Settings {
    /// `kafka_group_instance_id` with `{hostname}` replaced by this host's name.
    pub fn group_instance_id(&self) -> anyhow::Result<Option<String>> {
        let Some(id) = &self.kafka_group_instance_id else {
            return Ok(None);
        };
        if !id.contains("{hostname}") {
            return Ok(Some(id.clone()));
        }
        let hostname = nix::unistd::gethostname()?;
        let hostname = hostname
            .to_str()
            .context("the hostname is not UTF-8, so it cannot name a group member")?;
        Ok(Some(id.replace("{hostname}", hostname)))
    }
}

impl AsRef<Settings> for Settings {
    fn as_ref(&self) -> &Settings {
        self
    }
}

/// `C`'s command line as `participant` reads it.
pub fn command<C: CommandFactory>(participant: &Participant) -> clap::Command {
    C::command()
        .name(participant.name)
        .mut_arg("database_url", |arg| {
            arg.env(participant.database_url_var())
        })
        .mut_arg("http_addr", |arg| {
            arg.default_value(format!("0.0.0.0:{}", participant.port))
        })
}

/// Parses `args` (the program name first) and the environment into `C`.
pub fn parse_from<C, I, T>(participant: &Participant, args: I) -> Result<C, clap::Error>
where
    C: CommandFactory + FromArgMatches,
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    C::from_arg_matches(&command::<C>(participant).try_get_matches_from(args)?)
}

#[cfg(test)]
mod tests {
    use super::Settings;
    use clap::Parser;

    fn settings(id: Option<&str>) -> Settings {
        let mut args = vec!["participant", "--http-addr", "x", "--database-url", "y"];
        if let Some(id) = id {
            args.extend(["--kafka-group-instance-id", id]);
        }
        Settings::parse_from(args)
    }

    #[test]
    fn hostname_in_the_group_instance_id_is_this_hosts_name() {
        let hostname = nix::unistd::gethostname().unwrap();
        let hostname = hostname.to_str().unwrap();
        assert_eq!(
            settings(Some("order-{hostname}"))
                .group_instance_id()
                .unwrap(),
            Some(format!("order-{hostname}"))
        );
        assert_eq!(
            settings(Some("order-native-2"))
                .group_instance_id()
                .unwrap(),
            Some("order-native-2".to_owned())
        );
        assert_eq!(settings(None).group_instance_id().unwrap(), None);
    }
}
