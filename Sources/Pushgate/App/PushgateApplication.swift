public import Logging
import MQTTBridge
public import Prometheus
import ServiceLifecycle
import WebPush
import NIOCore
import Foundation

/// Everything `pushgate serve` runs, assembled from a config: the registry, the broker
/// connection, the API and the HTTP front end.
///
/// The HTTP listener is bound first, so a second copy started by mistake fails on the busy port
/// before it touches the broker. Then one service group runs the broker connection, the
/// acknowledgement listener, the config reloader and the HTTP server; on SIGTERM/SIGINT it stops
/// them in reverse: HTTP first (stop accepting, finish requests in flight), then the broker
/// connection (drain publishes); the registry closes last.
public struct PushgateApplication: Sendable {
    /// The configuration.
    public let config: PushgateConfig
    /// The config file, re-read on SIGHUP for its routes; `nil`: no reloading.
    public let configPath: String?
    /// The root logger.
    public let logger: Logger
    /// Where swift-metrics collects (bootstrapped by the caller), served on `metrics.listen`.
    public let metrics: PrometheusCollectorRegistry?

    /// Creates the application.
    public init(config: PushgateConfig, configPath: String? = nil, logger: Logger, metrics: PrometheusCollectorRegistry? = nil) {
        self.config = config
        self.configPath = configPath
        self.logger = logger
        self.metrics = metrics
    }

    /// Runs until a shutdown signal, logging one line per start-up phase.
    public func run() async throws {
        logger.info("pushgate: starting", metadata: ["version": "\(PushgateVersion.current)"])
        logger.info("registry: opening", metadata: ["storage": "\(config.storage.displayName)"])
        let store = try await config.storage.open(as: .server, logger: logger)
        // Whatever happens from here, the store is closed on the way out (a start-up that fails
        // half-way must not leave the database open).
        do {
            try await serve(store: store)
        } catch {
            try? await store.close()
            throw error
        }
        try await store.close()
        logger.info("pushgate: stopped")
    }

    private func serve(store: any RegistryStore) async throws {
        let registry = Registry.open(store)
        let purger = DeletedSubscriptionPurger(registry: registry, retentionDays: config.storage.deletedRetentionDays, logger: logger)
        let filler = RegistryFiller(registry: registry, purger: purger, logger: logger)
        _ = try await filler.awaitFill(atMost: .milliseconds(config.storage.loadWaitMilliseconds))
        let secret = try await store.installationSecret()

        let receipts = try await ReceiptCenter.load(from: store, limits: config.receipts, logger: logger)
        let bridge = MQTTBridge(configuration: try MQTTBridgeConfiguration(config.mqtt, clientID: config.mqttClientID()), logger: logger)
        let delivery = MQTTDelivery(publisher: bridge, topicPrefix: config.mqtt.topicPrefix, secret: secret, store: store, observer: receipts,
                                    onError: { [logger] problem in logger.debug("delivery: \(problem)") })
        let held = try await delivery.resume()
        if held > 0 { logger.info("delivery: resuming held Topic messages", metadata: ["held": "\(held)"]) }
        let api = PushgateAPI(settings: ServiceSettings(config), registry: registry, delivery: delivery, receipts: receipts,
                              broadcasts: BroadcastTable(config.broadcasts, secret: secret), logger: logger)
        if !config.broadcasts.isEmpty {
            logger.info("routes: ready", metadata: ["routes": "\(config.broadcasts.count)"])
        }
        let server = HTTPServer(config: config.server, responder: api, logger: logger, accessLog: config.logging.accessLog)
        let address: SocketAddress
        do {
            address = try await server.start()
        } catch let error as IOError where error.errnoCode == EADDRINUSE {
            throw StartupError("cannot listen on \(config.server.listen): the address is already in use",
                               hint: "is another Pushgate running? (its broker session is untouched) Stop it, or change server.listen")
        }
        if config.server.publicURL.hasPrefix("http://"), !config.server.allowCleartext {
            logger.warning("http: server.public_url is http://: push and subscription URLs are capabilities and travel in the clear; serve HTTPS (server.tls, or TLS at a proxy in front with an https:// public_url), or set server.allow_cleartext: true for a private network or development")
        }
        logger.info("http: listening", metadata: [
            "address": "\(address)", "public_url": "\(config.server.publicURL)",
            "protocols": "\(config.server.tls == nil ? "HTTP/1.1, h2c" : "h2, http/1.1 over TLS")",
        ])

        var metricsServices: [any Service] = []
        if let registry = metrics, let listen = config.metrics.listen {
            let metricsServer = MetricsServer(address: listen, registry: registry, logger: logger)
            do {
                let bound = try await metricsServer.start()
                logger.info("metrics: listening", metadata: ["address": "\(bound)", "path": "/metrics"])
            } catch let error as IOError where error.errnoCode == EADDRINUSE {
                throw StartupError("cannot listen on \(listen) for metrics: the address is already in use",
                                   hint: "change metrics.listen, or stop what uses it")
            }
            metricsServices = [metricsServer, MetricsSampler(bridge: bridge, api: api, server: server)]
        }

        var services: [any Service] = metricsServices + [bridge, AckListener(bridge: bridge, delivery: delivery, logger: logger, shareGroup: config.mqtt.ackShareGroup),
                                       HeldMessageResender(delivery: delivery), receipts, purger]
        if registry.isShared { services.append(RegistryChangeFollower(registry: registry, logger: logger)) }
        if let configPath {
            services.append(ConfigReloader(path: configPath, secret: secret, api: api, server: server, running: config, logger: logger))
        }
        services.append(server)
        // The filler first, so a graceful shutdown stops it last: its run() ends when the fill
        // does, and that must not end the others.
        let configured = [ServiceGroupConfiguration.ServiceConfiguration(service: filler, successTerminationBehavior: .ignore)]
            + services.map { .init(service: $0) }
        let group = ServiceGroup(configuration: .init(services: configured,
                                                      gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        logger.info("mqtt: connecting", metadata: [
            "broker": "\(bridge.configuration.brokers.map(\.description).joined(separator: ", "))", "client_id": "\(bridge.configuration.clientID)",
        ])
        try await group.run()
    }
}

/// Why Pushgate could not start, in one line with a hint.
public struct StartupError: Error, CustomStringConvertible {
    /// What failed.
    public let message: String
    /// What to do about it.
    public let hint: String

    init(_ message: String, hint: String) {
        self.message = message
        self.hint = hint
    }

    public var description: String { "\(message) (hint: \(hint))" }
}
