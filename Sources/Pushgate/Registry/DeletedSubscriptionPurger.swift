import Foundation
import Logging
import ServiceLifecycle

/// Forgets subscriptions deleted more than `storage.deleted_retention_days` ago, at start-up and
/// then hourly, so their tombstones (which make pushes answer 410 instead of 404) do not
/// accumulate in memory forever.
struct DeletedSubscriptionPurger: Service, CustomStringConvertible {
    let registry: Registry
    let retentionDays: Int
    let logger: Logger

    var description: String { "DeletedSubscriptionPurger(\(retentionDays) days)" }

    func purge() async throws {
        let before = registry.deletedCount
        try await registry.purgeDeleted(before: Int64(Date().timeIntervalSince1970) - Int64(retentionDays) * 86_400)
        let purged = before - registry.deletedCount
        if purged > 0 { logger.info("registry: forgot deleted subscriptions", metadata: ["count": "\(purged)", "retention_days": "\(retentionDays)"]) }
    }

    func run() async throws {
        // The sleep ends at graceful shutdown too, so the service group is not held up.
        while (try? await cancelWhenGracefulShutdown({ try await Task.sleep(for: .seconds(3600)) })) != nil {
            do {
                try await purge()
            } catch {
                logger.error("registry: could not purge deleted subscriptions", metadata: ["error": "\(error)"])
            }
        }
    }
}
