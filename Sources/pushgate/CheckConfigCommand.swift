import ArgumentParser
import Pushgate

/// `pushgate check-config PATH`: validates a config file and summarizes it.
struct CheckConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate a config file: exit 0 with a summary, or print each error with file:line:column and exit 1."
    )

    @Argument(help: "The YAML config file.")
    var path: String = "config.yaml"

    func run() throws {
        let config = try loadConfigOrExit(path)
        print("\(path): OK")
        print("  server:  listen \(config.server.listen), public URL \(config.server.publicURL), \(config.server.tls == nil ? "cleartext HTTP/1.1 + h2c" : "TLS (h2, http/1.1)")")
        print("  mqtt:    \(config.mqtt.url) (MQTT \(config.mqtt.protocolVersion.rawValue)), client id \(config.mqttClientID()), topic prefix \(config.mqtt.topicPrefix)")
        print("  storage: \(config.storage.displayName)")
        if !config.broadcasts.isEmpty {
            print("  routes:  \(config.broadcasts.map { "\($0.name) → \($0.topic)" }.joined(separator: ", ")) (push URLs: pushgate routes)")
        }
        print("  limits:  payload ≤ \(config.limits.maxPayloadBytes) bytes, TTL ≤ \(config.limits.maxTTLSeconds) s")
    }
}
