import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle

/// Reads the registry into memory after a start (``Registry/fill()``) without holding the
/// service back for it.
///
/// A small registry is in before the budget (`storage.load_wait_ms`, default 1 s) ends and the instance starts as it always did. A
/// large one (about 5 s per million subscriptions) keeps filling while the instance serves:
/// pushes are answered from the database meanwhile, changes get 503 (errno 136). Either way the
/// first purge of old tombstones follows the fill, since it is a write. A fill that fails ends
/// the process, as a failed load at start-up always did.
final class RegistryFiller: Service, Sendable {
    private let registry: Registry
    private let purger: DeletedSubscriptionPurger
    private let logger: Logger
    private let started = ContinuousClock.now
    private let fill: Task<Void, any Error>

    /// Starts reading `registry` in.
    init(registry: Registry, purger: DeletedSubscriptionPurger, logger: Logger) {
        self.registry = registry
        self.purger = purger
        self.logger = logger
        self.fill = Task { try await registry.fill() }
    }

    /// Waits for the fill, at most `budget`: `true` if it is in, `false` if it is still going.
    /// Rethrows what a fill that ended in time threw.
    func awaitFill(atMost budget: Duration) async throws -> Bool {
        let done = await fillEnds { giveUp in
            let timer = Task {
                try? await Task.sleep(for: budget)
                giveUp()
            }
            return { timer.cancel() }
        }
        if done { try await fill.value } else {
            logger.info("registry: serving from the database while the index is read in; changes are refused until it is in (503, errno 136)")
        }
        return done
    }

    /// Waits for the fill to end, logs it, then purges old tombstones. A graceful shutdown stops
    /// the wait, not the fill: nothing has been written while it ran, so there is nothing to
    /// finish, and a stop must not wait a minute for a ten-million read (the process exits with
    /// it unfinished; the next start reads again).
    func run() async throws {
        let done = await fillEnds { giveUp in
            // Registered before the wait starts, so a shutdown already under way counts too.
            let watcher = Task {
                await withGracefulShutdownHandler {
                    while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
                } onGracefulShutdown: {
                    giveUp()
                }
            }
            return { watcher.cancel() }
        }
        guard done else {
            logger.info("registry: stopping before the index was read in")
            return
        }
        do {
            try await fill.value
        } catch {
            logger.critical("registry: could not be read in", metadata: ["error": "\(error)"])
            throw error
        }
        logger.info("registry: ready", metadata: [
            "subscriptions": "\(registry.count)", "shared": "\(registry.isShared)",
            "seconds": "\(Self.seconds(ContinuousClock.now - started))",
        ])
        do {
            try await purger.purge()
        } catch {
            logger.error("registry: could not purge deleted subscriptions", metadata: ["error": "\(error)"])
        }
    }

    /// `true` once the fill has ended (or failed), `false` if `giveUp` — handed to `start`,
    /// which returns how to stop whatever calls it — is called first.
    private func fillEnds(unless start: (@escaping @Sendable () -> Void) -> () -> Void) async -> Bool {
        let (outcomes, continuation) = AsyncStream.makeStream(of: Bool.self, bufferingPolicy: .bufferingOldest(1))
        Task { [fill] in
            _ = try? await fill.value
            continuation.yield(true)
        }
        let stop = start { continuation.yield(false) }
        var first = outcomes.makeAsyncIterator()
        let done = await first.next() ?? false
        stop()
        return done
    }

    private static func seconds(_ duration: Duration) -> String {
        let milliseconds = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        return "\(milliseconds / 1000).\(String(milliseconds % 1000 + 1000).dropFirst())"
    }
}
