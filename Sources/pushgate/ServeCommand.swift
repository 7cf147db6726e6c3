import ArgumentParser
import Logging
import Pushgate

/// `pushgate serve --config PATH`: runs the service.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run Pushgate with a config file."
    )

    @Option(name: .shortAndLong, help: "The YAML config file.")
    var config: String = "config.yaml"

    func run() async throws {
        let loaded = try loadConfigOrExit(config)
        var logger = Logger(label: "pushgate")
        logger.logLevel = Logger.Level(rawValue: loaded.logging.level) ?? .info
        logger.info("config: loaded", metadata: ["path": "\(config)"])
        do {
            try await PushgateApplication(config: loaded, configPath: config, logger: logger).run()
        } catch {
            logger.critical("pushgate: cannot start", metadata: ["error": "\(error)"])
            throw ExitCode(1)
        }
    }
}
