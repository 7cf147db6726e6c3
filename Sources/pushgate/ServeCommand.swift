import ArgumentParser
import Logging
import Metrics
import Prometheus
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
        // One switchable level for every logger, so SIGHUP can change logging.level.
        let json = loaded.logging.format == .json
        LoggingSystem.bootstrap { label in
            LevelSwitchedLogHandler(base: json ? JSONLogHandler(label: label) : StreamLogHandler.standardError(label: label))
        }
        LogLevelSwitch.shared.level = Logger.Level(rawValue: loaded.logging.level) ?? .info
        let logger = Logger(label: "pushgate")
        logger.info("config: loaded", metadata: ["path": "\(config)"])
        // Before anything makes a metric: handles made earlier would stay no-ops.
        let metrics = loaded.metrics.listen.map { _ in Self.bootstrapPrometheus() }
        do {
            try await PushgateApplication(config: loaded, configPath: config, logger: logger, metrics: metrics).run()
        } catch {
            logger.critical("pushgate: cannot start", metadata: ["error": "\(error)"])
            throw ExitCode(1)
        }
    }

    /// swift-metrics → swift-prometheus, with buckets that resolve what Pushgate measures: request
    /// and registry latencies from 0.5 ms, fan-out sizes up to a million members.
    static func bootstrapPrometheus() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [.microseconds(500), .milliseconds(1), .milliseconds(2.5), .milliseconds(5), .milliseconds(10),
                                                   .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
                                                   .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10)]
        factory.valueHistogramBuckets["pushgate_fanout_recipients"] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000]
        MetricsSystem.bootstrap(factory)
        return registry
    }
}
