import WebPush

/// The in-memory index of the registry: every lookup of the push path is a dictionary read here.
///
/// A plain value with no locking and no I/O: ``Registry`` owns one behind a lock and changes it
/// only after the store has the change. It keeps the relations both ways (list → members,
/// member → lists) so that deleting a subscription can leave every list it was in.
struct RegistryIndex: Sendable {
    private(set) var subscriptionsByPushToken: [PushToken: Subscription] = [:]
    private(set) var subscriptionsByID: [SubscriptionID: Subscription] = [:]
    private(set) var deletedPushTokens: Set<PushToken> = []
    private(set) var lists: [ListID: PushList] = [:]
    private(set) var listIDsByPushToken: [ListPushToken: ListID] = [:]
    /// member push token → ids of the lists it is in.
    private(set) var listIDsByMember: [PushToken: Set<ListID>] = [:]

    init() {}

    /// The index of a loaded snapshot.
    init(_ snapshot: RegistrySnapshot) {
        subscriptionsByPushToken.reserveCapacity(snapshot.subscriptions.count)
        subscriptionsByID.reserveCapacity(snapshot.subscriptions.count)
        for subscription in snapshot.subscriptions { insert(subscription) }
        deletedPushTokens = Set(snapshot.deletedPushTokens)
        for list in snapshot.lists { insert(list) }
    }

    // MARK: Subscriptions

    mutating func insert(_ subscription: Subscription) {
        subscriptionsByPushToken[subscription.pushToken] = subscription
        subscriptionsByID[subscription.id] = subscription
    }

    /// Forgets a subscription, remembers its push token as deleted (410), and removes it from
    /// every list it was in.
    mutating func delete(_ subscription: Subscription) {
        subscriptionsByID[subscription.id] = nil
        subscriptionsByPushToken[subscription.pushToken] = nil
        deletedPushTokens.insert(subscription.pushToken)
        for listID in listIDsByMember.removeValue(forKey: subscription.pushToken) ?? [] {
            lists[listID]?.members[subscription.pushToken] = nil
        }
    }

    // MARK: Lists

    /// Adds or replaces a list, keeping the member → lists relation in step.
    mutating func insert(_ list: PushList) {
        if let old = lists[list.id] {
            for token in old.members.keys where list.members[token] == nil { unlink(token, from: list.id) }
        }
        lists[list.id] = list
        listIDsByPushToken[list.pushToken] = list.id
        for token in list.members.keys { listIDsByMember[token, default: []].insert(list.id) }
    }

    mutating func removeList(id: ListID) {
        guard let list = lists.removeValue(forKey: id) else { return }
        listIDsByPushToken[list.pushToken] = nil
        for token in list.members.keys { unlink(token, from: id) }
    }

    private mutating func unlink(_ token: PushToken, from listID: ListID) {
        listIDsByMember[token]?.remove(listID)
        if listIDsByMember[token]?.isEmpty == true { listIDsByMember[token] = nil }
    }

    func list(pushToken: ListPushToken) -> PushList? {
        listIDsByPushToken[pushToken].flatMap { lists[$0] }
    }

    func listCount(creator: VAPIDPublicKey) -> Int {
        lists.values.count { $0.creatorKey == creator }
    }
}
