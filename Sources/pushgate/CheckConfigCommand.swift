import ArgumentParser
import Foundation
import Logging
import MQTTBridge
import Pushgate

/// `pushgate check-config [--config] PATH [--connect]`: validates a config file as `serve` would
/// use it, and summarizes it.
struct CheckConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate a config file: exit 0 with a summary, or print each error with file:line:column and exit 1.",
        discussion: """
            Beyond the YAML, it checks what `serve` would otherwise find only at start: that the TLS \
            certificate and key load and belong together, and that the SQLite file's folder is writable \
            (or, with --connect, that PostgreSQL and the broker accept the configured login).
            """
    )

    @Argument(help: "The YAML config file (or --config).")
    var path: String?

    @Option(name: .shortAndLong, help: "The YAML config file.")
    var config: String?

    @Flag(help: "Also connect to the broker and the database with the configured credentials.")
    var connect = false

    func run() async throws {
        let path = config ?? path ?? "config.yaml"
        // Every section's mistake in one run, not one per run.
        let errors = ConfigLoader.validate(path: path)
        guard errors.isEmpty else {
            for error in errors { printError(error.description) }
            throw ExitCode(1)
        }
        let loaded = try loadConfigOrExit(path)
        var problems: [String] = []
        if let tls = loaded.server.tls {
            do {
                try HTTPServer.checkTLS(tls)
            } catch {
                problems.append("server.tls: \(error)")
            }
        }
        if case .sqlite(let file) = loaded.storage.backend {
            let folder = URL(fileURLWithPath: file).deletingLastPathComponent().path
            if !FileManager.default.isWritableFile(atPath: folder) {
                problems.append("storage.path: the folder \(folder) is not writable by this user (uid \(getuid())): SQLite keeps its journal beside the file (hint: chown the folder to the service's user)")
            } else if FileManager.default.fileExists(atPath: file), !FileManager.default.isWritableFile(atPath: file) {
                problems.append("storage.path: \(file) is not writable by this user (uid \(getuid()))")
            }
        }
        if connect { problems += await connectionProblems(loaded) }
        guard problems.isEmpty else {
            for problem in problems { printError("\(path): error: \(problem)") }
            throw ExitCode(1)
        }
        print("\(path): OK")
        print("  server:  listen \(loaded.server.listen), public URL \(loaded.server.publicURL), \(loaded.server.tls == nil ? "cleartext HTTP/1.1 + h2c" : "TLS 1.2+ (h2, http/1.1)")")
        print("  mqtt:    \(loaded.mqtt.url) (MQTT \(loaded.mqtt.protocolVersion.rawValue)), client id \(loaded.mqttClientID()), topic prefix \(loaded.mqtt.topicPrefix)")
        print("  storage: \(loaded.storage.displayName)")
        if let metrics = loaded.metrics.listen { print("  metrics: http://\(metrics)/metrics") }
        if !loaded.broadcasts.isEmpty {
            print("  routes:  \(loaded.broadcasts.map { "\($0.name) → \($0.topic)" }.joined(separator: ", ")) (push URLs: pushgate routes)")
        }
        print("  limits:  payload ≤ \(loaded.limits.maxPayloadBytes) bytes, TTL ≤ \(loaded.limits.maxTTLSeconds) s")
        if connect { print("  connect: broker and registry accepted the configured login") }
    }

    /// Connects to the broker (a client id of its own, so a running server keeps its session)
    /// and opens the registry, each within a few seconds.
    private func connectionProblems(_ config: PushgateConfig) async -> [String] {
        var problems: [String] = []
        do {
            var bridgeConfiguration = try MQTTBridgeConfiguration(config.mqtt, clientID: "pushgate-check-\(UUID().uuidString.prefix(8))")
            bridgeConfiguration.clientID = "pushgate-check-\(UUID().uuidString.prefix(8))"
            bridgeConfiguration.reconnectMaxDelayMilliseconds = 500
            var quiet = Logger(label: "pushgate.check")
            quiet.logLevel = .critical
            let bridge = MQTTBridge(configuration: bridgeConfiguration, logger: quiet)
            try await bridge.withRunning { running in try await running.waitUntilConnected(timeout: .seconds(5)) }
        } catch {
            problems.append("mqtt: \(error) (hint: check mqtt.url, and mqtt.username / password_file if the broker wants a login)")
        }
        do {
            let store = try await config.storage.open(as: .sharedTool)
            try await store.close()
        } catch {
            problems.append("storage: \(error)")
        }
        return problems
    }
}
