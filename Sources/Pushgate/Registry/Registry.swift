import NIOConcurrencyHelpers
public import WebPush

/// Subscriptions and lists, served from memory, written through to a ``RegistryStore``.
///
/// The push path does no I/O: a push token is a dictionary lookup in the ``RegistryIndex``.
/// Every change is one critical section: it re-reads the current state, checks it, writes the
/// store, and only once that is durable updates the index. Writes are serialized (FIFO), so two
/// requests changing the same list cannot both start from the same snapshot, and a 201 never
/// promises what a restart would forget.
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

    private let store: any RegistryStore
    private let index: NIOLockedValueBox<RegistryIndex>
    /// Serializes read-check-write sequences; reads of the index never wait for it.
    private let writes = AsyncMutex()

    private init(store: any RegistryStore, snapshot: RegistrySnapshot) {
        self.store = store
        self.index = NIOLockedValueBox(RegistryIndex(snapshot))
    }

    /// Loads everything from `store`.
    public static func load(from store: any RegistryStore) async throws -> Registry {
        Registry(store: store, snapshot: try await store.load())
    }

    // MARK: Reads (memory only)

    /// The subscription behind a push token.
    public func lookup(pushToken: PushToken) -> Lookup {
        index.withLockedValue { index in
            if let subscription = index.subscriptionsByPushToken[pushToken] { return .active(subscription) }
            return index.deletedPushTokens[pushToken] != nil ? .deleted : .unknown
        }
    }

    /// The subscription with this subscription-resource id.
    public func subscription(id: SubscriptionID) -> Subscription? {
        index.withLockedValue { $0.subscriptionsByID[id] }
    }

    /// Live subscriptions.
    public var count: Int { index.withLockedValue { $0.subscriptionsByID.count } }

    /// The live subscription set with this id.
    public func set(id: SetID) -> SubscriptionSet? {
        index.withLockedValue { $0.sets[id] }
    }

    /// Whether `pushToken` names a live subscription.
    public func isSubscription(pushToken: PushToken) -> Bool {
        index.withLockedValue { $0.subscriptionsByPushToken[pushToken] != nil }
    }

    /// Subscriptions for member tokens (skipping any that no longer exist).
    public func subscriptions(pushTokens: [PushToken]) -> [PushToken: Subscription] {
        index.withLockedValue { index in
            var found: [PushToken: Subscription] = [:]
            found.reserveCapacity(pushTokens.count)
            for token in pushTokens { found[token] = index.subscriptionsByPushToken[token] }
            return found
        }
    }

    /// The list with this list-resource id.
    public func list(id: ListID) -> PushList? {
        index.withLockedValue { $0.lists[id] }
    }

    /// The list behind a list push token.
    public func list(pushToken: ListPushToken) -> PushList? {
        index.withLockedValue { $0.list(pushToken: pushToken) }
    }

    /// How many lists a creator key has.
    public func listCount(creator: VAPIDPublicKey) -> Int {
        index.withLockedValue { $0.listCount(creator: creator) }
    }

    // MARK: Writes (store, then memory, one at a time)

    /// Deletes a subscription durably (it also leaves every list); returns it, or `nil` if there
    /// was none, so of two simultaneous deletes exactly one finds it.
    public func remove(id: SubscriptionID, now: Int64) async throws -> Subscription? {
        try await writes.withLock {
            guard let subscription = self.subscription(id: id) else { return nil }
            try await store.markDeleted(id: id, at: now)
            index.withLockedValue { $0.delete(subscription, at: now) }
            return subscription
        }
    }

    /// Stores a new subscription that `make` builds inside the critical section (so the set it
    /// joins cannot be deleted meanwhile); what `make` throws is rethrown and nothing is written.
    public func addSubscription(_ make: (Registry) throws -> Subscription) async throws -> Subscription {
        try await writes.withLock {
            let subscription = try make(self)
            try await store.insert(subscription)
            index.withLockedValue { $0.insert(subscription) }
            return subscription
        }
    }

    /// Deletes a set and every subscription in it durably; returns them, or `nil` if there was
    /// no such set.
    public func removeSet(id: SetID, now: Int64) async throws -> [Subscription]? {
        try await writes.withLock {
            guard self.set(id: id) != nil else { return nil }
            try await store.deleteSet(id: id, at: now)
            return index.withLockedValue { $0.deleteSet(id: id, at: now) }
        }
    }

    /// Forgets subscriptions deleted before `time`: their push URLs answer 404 instead of 410
    /// from then on, and their memory is freed.
    public func purgeDeleted(before time: Int64) async throws {
        try await writes.withLock {
            try await store.purgeDeleted(before: time)
            index.withLockedValue { $0.purgeDeleted(before: time) }
        }
    }

    /// How many deleted subscriptions are remembered.
    public var deletedCount: Int { index.withLockedValue { $0.deletedPushTokens.count } }

    /// Stores a new list durably, then indexes it. `make` builds it inside the critical section,
    /// so a limit it enforces (lists per key, members that must exist) cannot be passed by
    /// concurrent requests; what it throws is rethrown and nothing is written.
    @discardableResult
    public func addList(_ make: (Registry) throws -> PushList) async throws -> PushList {
        try await writes.withLock {
            let list = try make(self)
            try await store.insertList(list)
            index.withLockedValue { $0.insert(list) }
            return list
        }
    }

    /// Changes a list: `edit` gets the current list (inside the critical section) and returns
    /// the new one; the difference is stored, then indexed. Returns `nil` if there is no such list.
    public func updateList(id: ListID, _ edit: (PushList) throws -> PushList) async throws -> PushList? {
        try await writes.withLock {
            guard let current = list(id: id) else { return nil }
            let updated = try edit(current)
            let changes = current.changes(to: updated)
            if !changes.isEmpty { try await store.updateList(id: id, changes) }
            index.withLockedValue { $0.insert(updated) }
            return updated
        }
    }

    /// Deletes a list durably; returns whether it existed.
    public func removeList(id: ListID) async throws -> Bool {
        try await writes.withLock {
            guard list(id: id) != nil else { return false }
            try await store.deleteList(id: id)
            index.withLockedValue { $0.removeList(id: id) }
            return true
        }
    }
}
