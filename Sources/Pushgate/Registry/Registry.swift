import NIOConcurrencyHelpers
public import WebPush

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
        var lists: [String: PushList] = [:]
        var listIDByPushToken: [String: String] = [:]
        /// member push token → ids of the lists it is in (to leave them when deleted).
        var listIDsByMember: [String: Set<String>] = [:]

        mutating func index(_ list: PushList) {
            if let old = lists[list.id] {
                for token in old.members.keys where list.members[token] == nil {
                    listIDsByMember[token]?.remove(list.id)
                    if listIDsByMember[token]?.isEmpty == true { listIDsByMember[token] = nil }
                }
            }
            lists[list.id] = list
            listIDByPushToken[list.pushToken] = list.id
            for token in list.members.keys { listIDsByMember[token, default: []].insert(list.id) }
        }

        mutating func unindex(listID: String) {
            guard let list = lists.removeValue(forKey: listID) else { return }
            listIDByPushToken[list.pushToken] = nil
            for token in list.members.keys {
                listIDsByMember[token]?.remove(listID)
                if listIDsByMember[token]?.isEmpty == true { listIDsByMember[token] = nil }
            }
        }
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
        for list in snapshot.lists { index.index(list) }
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
        // One store write: the subscription is deleted and leaves every list it was in.
        try await store.markDeleted(id: id, at: now)
        index.withLockedValue { index in
            index.byID[id] = nil
            index.byPushToken[subscription.pushToken] = nil
            index.deletedPushTokens.insert(subscription.pushToken)
            for listID in index.listIDsByMember.removeValue(forKey: subscription.pushToken) ?? [] {
                index.lists[listID]?.members[subscription.pushToken] = nil
            }
        }
        return subscription
    }

    // MARK: Lists

    /// The list with this list-resource id.
    public func list(id: String) -> PushList? {
        index.withLockedValue { $0.lists[id] }
    }

    /// The list behind a list push token.
    public func list(pushToken: String) -> PushList? {
        index.withLockedValue { index in index.listIDByPushToken[pushToken].flatMap { index.lists[$0] } }
    }

    /// How many lists a creator key has.
    public func listCount(creator: VAPIDPublicKey) -> Int {
        index.withLockedValue { $0.lists.values.count { $0.creatorKey == creator } }
    }

    /// Whether `pushToken` names a live subscription.
    public func isSubscription(pushToken: String) -> Bool {
        index.withLockedValue { $0.byPushToken[pushToken] != nil }
    }

    /// Subscriptions for member tokens (skipping any that no longer exist).
    public func subscriptions(pushTokens: [String]) -> [String: Subscription] {
        index.withLockedValue { index in
            var found: [String: Subscription] = [:]
            found.reserveCapacity(pushTokens.count)
            for token in pushTokens { found[token] = index.byPushToken[token] }
            return found
        }
    }

    /// Stores a new list durably, then indexes it.
    public func add(_ list: PushList) async throws {
        try await store.insertList(list)
        index.withLockedValue { $0.index(list) }
    }

    /// Applies membership changes durably; returns the updated list.
    public func update(listID: String, _ changes: [ListChange]) async throws -> PushList? {
        guard var list = self.list(id: listID) else { return nil }
        try await store.updateList(id: listID, changes)
        for change in changes {
            switch change {
            case .upsert(let token, let member): list.members[token] = member
            case .remove(let token): list.members[token] = nil
            }
        }
        let updated = list
        index.withLockedValue { $0.index(updated) }
        return updated
    }

    /// Deletes a list durably; returns whether it existed.
    public func removeList(id: String) async throws -> Bool {
        guard self.list(id: id) != nil else { return false }
        try await store.deleteList(id: id)
        index.withLockedValue { $0.unindex(listID: id) }
        return true
    }

    /// Closes the store.
    public func close() async throws {
        try await store.close()
    }
}
