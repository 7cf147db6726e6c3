import NIOConcurrencyHelpers

/// Subscriptions, served from memory, written through to a ``RegistryStore``.
///
/// The push path does no I/O: a push token is a dictionary lookup. Changes are written to the
/// store first and enter the index only once durable, so a 201 never promises what a restart
/// would forget.
public final class Registry: Sendable {
    /// What a push token refers to.
    public enum Lookup: Sendable {
        /// A live subscription.
        case active(Subscription)
        /// A subscription that was deleted (answer 410).
        case deleted
        /// Nothing (answer 404).
        case unknown
    }

    private struct Index {
        var byPushToken: [String: Subscription] = [:]
        var byID: [String: Subscription] = [:]
        var deletedPushTokens: Set<String> = []
    }

    private let store: any RegistryStore
    private let index: NIOLockedValueBox<Index>

    private init(store: any RegistryStore, snapshot: RegistrySnapshot) {
        self.store = store
        var index = Index()
        index.byPushToken.reserveCapacity(snapshot.subscriptions.count)
        index.byID.reserveCapacity(snapshot.subscriptions.count)
        for subscription in snapshot.subscriptions {
            index.byPushToken[subscription.pushToken] = subscription
            index.byID[subscription.id] = subscription
        }
        index.deletedPushTokens = Set(snapshot.deletedPushTokens)
        self.index = NIOLockedValueBox(index)
    }

    /// Loads everything from `store`.
    public static func load(from store: any RegistryStore) async throws -> Registry {
        Registry(store: store, snapshot: try await store.load())
    }

    /// The subscription behind a push token.
    public func lookup(pushToken: String) -> Lookup {
        index.withLockedValue { index in
            if let subscription = index.byPushToken[pushToken] { return .active(subscription) }
            return index.deletedPushTokens.contains(pushToken) ? .deleted : .unknown
        }
    }

    /// The subscription with this subscription-resource id.
    public func subscription(id: String) -> Subscription? {
        index.withLockedValue { $0.byID[id] }
    }

    /// Live subscriptions.
    public var count: Int { index.withLockedValue { $0.byID.count } }

    /// Stores a new subscription durably, then indexes it.
    public func add(_ subscription: Subscription) async throws {
        try await store.insert(subscription)
        index.withLockedValue { index in
            index.byPushToken[subscription.pushToken] = subscription
            index.byID[subscription.id] = subscription
        }
    }

    /// Deletes a subscription durably; returns it, or `nil` if there was none.
    public func remove(id: String, now: Int64) async throws -> Subscription? {
        guard let subscription = self.subscription(id: id) else { return nil }
        try await store.markDeleted(id: id, at: now)
        index.withLockedValue { index in
            index.byID[id] = nil
            index.byPushToken[subscription.pushToken] = nil
            index.deletedPushTokens.insert(subscription.pushToken)
        }
        return subscription
    }

    /// Closes the store.
    public func close() async throws {
        try await store.close()
    }
}
