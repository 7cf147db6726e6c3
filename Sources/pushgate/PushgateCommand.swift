import ArgumentParser
import Pushgate

/// `pushgate`: a Web Push service (RFC 8030) whose devices are reached through an MQTT broker.
@main
struct PushgateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pushgate",
        abstract: "A Web Push service (RFC 8030, VAPID, aes128gcm) that delivers through an MQTT broker.",
        version: PushgateVersion.current,
        subcommands: [ServeCommand.self, CheckConfigCommand.self, RoutesCommand.self, AdminCommand.self, MigrateCommand.self, BackupCommand.self, RestoreCommand.self, VAPIDCommand.self, SendCommand.self]
    )
}
