import ArgumentParser
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
        let loaded: PushgateConfig
        do {
            loaded = try ConfigLoader.load(path: config)
        } catch {
            printError(error.description)
            throw ExitCode(1)
        }
        print("config \(config) loaded: listen \(loaded.server.listen), broker \(loaded.mqtt.url)")
        printError("pushgate serve: the HTTP push service is not built yet (issue: the RFC 8030 push service); the config is valid.")
        throw ExitCode(2)
    }
}
