public import Logging
import MQTTBridge
import ServiceLifecycle
import WebPush

/// Everything `pushgate serve` runs, assembled from a config: the registry, the broker
/// connection, the push service and the HTTP front end, under one service group that shuts
/// down gracefully on SIGTERM/SIGINT (HTTP first: stop accepting and finish requests in flight;
/// then the broker connection: drain publishes; then the registry).
public struct PushgateApplication: Sendable {
    /// The configuration.
    public let config: PushgateConfig
    /// The config file, re-read on SIGHUP for its routes; `nil`: no reloading.
    public let configPath: String?
    /// The root logger.
    public let logger: Logger

    /// Creates the application.
    public init(config: PushgateConfig, configPath: String? = nil, logger: Logger) {
        self.config = config
        self.configPath = configPath
        self.logger = logger
    }

    /// Runs until a shutdown signal, logging one line per start-up phase.
    public func run() async throws {
        logger.info("registry: opening", metadata: ["path": "\(config.storage.path)"])
        let store = try await SQLiteRegistryStore.open(path: config.storage.path, logger: logger)
        let registry = try await Registry.load(from: store)
        logger.info("registry: ready", metadata: ["subscriptions": "\(registry.count)"])

        let bridge = MQTTBridge(configuration: try MQTTBridgeConfiguration(config.mqtt), logger: logger)
        logger.info("mqtt: connecting", metadata: ["broker": "\(config.mqtt.host):\(config.mqtt.port)"])
        do {
            try await bridge.waitUntilConnected(timeout: .seconds(5))
            logger.info("mqtt: connected")
        } catch {
            // Serve anyway: /readyz says not ready and pushes get 503 until the broker is back.
            logger.warning("mqtt: not connected yet, retrying in the background", metadata: ["state": "\(bridge.state)"])
        }

        let secret = try await store.installationSecret()
        let routes = RouteTable(config.routes, secret: secret)
        let service = PushService(settings: .init(config), registry: registry, delivery: bridge, routes: routes, logger: logger)
        if !config.routes.isEmpty {
            logger.info("routes: ready", metadata: ["routes": "\(config.routes.count)"])
        }
        // Restored by the bridge on every reconnect; made now if connected, else on connect.
        try await AckListener.start(bridge: bridge, service: service)
        let server = HTTPServer(config: config.server, maxPayloadBytes: config.limits.maxPayloadBytes,
                                maxListDocumentBytes: config.lists.maxDocumentBytes, service: service, logger: logger)
        let address = try await server.start()
        logger.info("http: listening", metadata: [
            "address": "\(address)", "public_url": "\(config.server.publicURL)",
            "protocols": "\(config.server.tls == nil ? "HTTP/1.1, h2c" : "h2, http/1.1 over TLS")",
        ])

        var services: [any Service] = [
            LifecycleService(name: "registry") { try? await registry.close() },
            LifecycleService(name: "mqtt") { await bridge.shutdown(deadline: .seconds(5)) },
            LifecycleService(name: "http") { await server.shutdown(deadline: .seconds(10)) },
        ]
        if let configPath {
            services.append(RouteReloader(path: configPath, secret: secret, service: service, logger: logger))
        }
        let group = ServiceGroup(
            services: services,
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        )
        logger.info("pushgate: ready")
        try await group.run()
        logger.info("pushgate: stopped")
    }
}

/// A service that idles until graceful shutdown, then runs its `stop` step. The group stops
/// services in reverse order, which gives the HTTP → MQTT → registry order.
struct LifecycleService: Service {
    let name: String
    let stop: @Sendable () async -> Void

    func run() async throws {
        try? await gracefulShutdown()
        await stop()
    }
}
