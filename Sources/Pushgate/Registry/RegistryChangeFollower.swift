public import Logging
public import ServiceLifecycle

/// Keeps a ``Registry`` on a shared store current with the other instances' changes until
/// shutdown. Only for a shared store: on a private one it would have nothing to follow.
public struct RegistryChangeFollower: Service {
    /// The registry to keep current.
    public let registry: Registry
    /// Where a failed catch-up is reported (it is retried on the next signal or poll).
    public let logger: Logger

    /// Creates the follower.
    public init(registry: Registry, logger: Logger) {
        self.registry = registry
        self.logger = logger
    }

    public func run() async throws {
        let logger = logger
        await cancelWhenGracefulShutdown {
            await registry.followChanges { error in
                logger.warning("registry: could not read other instances' changes; retrying", metadata: ["error": "\(error)"])
            }
        }
    }
}
