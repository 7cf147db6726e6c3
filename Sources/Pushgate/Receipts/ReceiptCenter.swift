public import Foundation
public import Logging
import NIOConcurrencyHelpers
public import ServiceLifecycle
public import WebPush

/// Delivery receipts (RFC 8030 §5.1, §6.3): receipt subscriptions, the pushes waiting for one,
/// and the receipts waiting for their application server.
///
/// Every change is durable before it is visible (``ReceiptStore``), and changes are serialized, so
/// a receipt is never promised twice nor lost across a restart. The acknowledgement of a message
/// (MQTT, or `DELETE /m/<id>`) reaches ``acknowledged(_:)`` through ``MQTTDelivery``; expiry is
/// checked once a second by ``run()``. Receipts go to every stream open on their subscription and
/// are forgotten once one has written them.
public final class ReceiptCenter: Service, Sendable {
    /// Why a receipt operation was refused.
    public enum Refusal: Error, Equatable {
        /// The creator key has this many receipt subscriptions.
        case tooManySubscriptions(Int)
        /// The receipt subscription has this many receipts outstanding.
        case tooManyPending(Int)
        /// No such receipt subscription.
        case unknownSubscription
    }

    private struct State {
        var subscriptions: [ReceiptSubscriptionID: ReceiptSubscription] = [:]
        var subscriptionsByKey: [VAPIDPublicKey: Int] = [:]
        var requests: [MessageID: ReceiptRequest] = [:]
        /// Requests and undelivered receipts per subscription (the pending bound).
        var pending: [ReceiptSubscriptionID: Int] = [:]
        var undelivered: [ReceiptSubscriptionID: [Receipt]] = [:]
        var listeners: [ReceiptSubscriptionID: [UUID: AsyncStream<Receipt>.Continuation]] = [:]
    }

    private let store: any ReceiptStore
    private let state = NIOLockedValueBox(State())
    private let writes = AsyncMutex()
    private let limits: ReceiptsConfig
    private let clock: @Sendable () -> Int64
    private let logger: Logger

    private init(store: any ReceiptStore, limits: ReceiptsConfig, clock: @escaping @Sendable () -> Int64, logger: Logger) {
        self.store = store
        self.limits = limits
        self.clock = clock
        self.logger = logger
    }

    /// Loads everything from `store`.
    public static func load(from store: any ReceiptStore, limits: ReceiptsConfig = ReceiptsConfig(),
                            clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) },
                            logger: Logger = Logger(label: "pushgate.receipts")) async throws -> ReceiptCenter {
        let center = ReceiptCenter(store: store, limits: limits, clock: clock, logger: logger)
        let (subscriptions, requests, receipts) = try await store.loadReceipts()
        center.state.withLockedValue { state in
            for subscription in subscriptions {
                state.subscriptions[subscription.id] = subscription
                state.subscriptionsByKey[subscription.creatorKey, default: 0] += 1
            }
            for request in requests {
                state.requests[request.message] = request
                state.pending[request.subscription, default: 0] += 1
            }
            for receipt in receipts.sorted(by: { $0.at < $1.at }) {
                state.undelivered[receipt.subscription, default: []].append(receipt)
                state.pending[receipt.subscription, default: 0] += 1
            }
        }
        return center
    }

    // MARK: Subscriptions

    /// The receipt subscription with this id.
    public func subscription(id: ReceiptSubscriptionID) -> ReceiptSubscription? {
        state.withLockedValue { $0.subscriptions[id] }
    }

    /// Creates a receipt subscription for `creator`, within `receipts.max_subscriptions_per_key`.
    public func create(creator: VAPIDPublicKey) async throws -> ReceiptSubscription {
        try await writes.withLock {
            let count = state.withLockedValue { $0.subscriptionsByKey[creator] ?? 0 }
            guard count < limits.maxSubscriptionsPerKey else { throw Refusal.tooManySubscriptions(limits.maxSubscriptionsPerKey) }
            let subscription = ReceiptSubscription(id: .random(), creatorKey: creator, createdAt: clock())
            try await store.insert(subscription)
            state.withLockedValue { state in
                state.subscriptions[subscription.id] = subscription
                state.subscriptionsByKey[creator, default: 0] += 1
            }
            return subscription
        }
    }

    /// Deletes a receipt subscription (RFC 8030 §7.3, P-62): its waiting receipts are dropped and
    /// its open streams end. Returns whether it existed.
    public func delete(id: ReceiptSubscriptionID) async throws -> Bool {
        try await writes.withLock {
            guard let subscription = self.subscription(id: id) else { return false }
            try await store.deleteReceiptSubscription(id: id)
            let listeners = state.withLockedValue { state in
                state.subscriptions[id] = nil
                state.subscriptionsByKey[subscription.creatorKey]? -= 1
                state.requests = state.requests.filter { $0.value.subscription != id }
                state.pending[id] = nil
                state.undelivered[id] = nil
                return state.listeners.removeValue(forKey: id)?.values.map { $0 } ?? []
            }
            for listener in listeners { listener.finish() }
            return true
        }
    }

    // MARK: Requests

    /// Records that `messages` want receipts on `subscription`, durably, before they are sent.
    public func track(_ messages: [MessageID], on subscription: ReceiptSubscriptionID, expiresAt: Int64) async throws {
        try await writes.withLock {
            let pending = try state.withLockedValue { state throws(Refusal) -> Int in
                guard state.subscriptions[subscription] != nil else { throw .unknownSubscription }
                return state.pending[subscription] ?? 0
            }
            guard pending + messages.count <= limits.maxPendingPerSubscription else { throw Refusal.tooManyPending(limits.maxPendingPerSubscription) }
            let requests = messages.map { ReceiptRequest(message: $0, subscription: subscription, expiresAt: expiresAt) }
            try await store.insert(requests)
            state.withLockedValue { state in
                for request in requests { state.requests[request.message] = request }
                state.pending[subscription, default: 0] += requests.count
            }
        }
    }

    /// Forgets requests whose messages were not sent after all.
    public func untrack(_ messages: [MessageID]) async {
        await writes.withLock {
            do {
                try await store.removeRequests(messages)
            } catch {
                logger.error("receipts: could not forget unsent requests", metadata: ["error": "\(error)"])
            }
            state.withLockedValue { state in
                for message in messages {
                    guard let request = state.requests.removeValue(forKey: message) else { continue }
                    state.pending[request.subscription]? -= 1
                }
            }
        }
    }

    // MARK: Outcomes

    /// The device acknowledged `message`: its receipt is 204. Returns whether a receipt was
    /// requested for it.
    public func acknowledged(_ message: MessageID) async -> Bool {
        guard let request = state.withLockedValue({ $0.requests[message] }) else { return false }
        return await resolve([Receipt(subscription: request.subscription, message: message, status: .acknowledged, at: clock())])
    }

    /// Requests whose messages expired unacknowledged get a 410 receipt (P-60).
    public func expireDue() async {
        let now = clock()
        let expired = state.withLockedValue { state in
            state.requests.values.filter { $0.expiresAt <= now }
        }
        guard !expired.isEmpty else { return }
        _ = await resolve(expired.map { Receipt(subscription: $0.subscription, message: $0.message, status: .expired, at: now) })
    }

    /// Turns requests into receipts durably and hands them to the open streams.
    private func resolve(_ receipts: [Receipt]) async -> Bool {
        await writes.withLock {
            // Only requests still outstanding (an acknowledgement may race the expiry).
            let current = state.withLockedValue { state in receipts.filter { state.requests[$0.message] != nil } }
            guard !current.isEmpty else { return false }
            do {
                try await store.resolve(current)
            } catch {
                logger.error("receipts: could not record receipts", metadata: ["error": "\(error)"])
                return false
            }
            let deliveries = state.withLockedValue { state in
                current.map { receipt in
                    state.requests[receipt.message] = nil
                    state.undelivered[receipt.subscription, default: []].append(receipt)
                    return (receipt, Array((state.listeners[receipt.subscription] ?? [:]).values))
                }
            }
            for (receipt, listeners) in deliveries { for listener in listeners { listener.yield(receipt) } }
            return true
        }
    }

    // MARK: Streams

    /// The receipts of `subscription`: those waiting first, then each as it comes, until the
    /// subscription is deleted or the stream is dropped. `nil` for an unknown subscription.
    public func receipts(of subscription: ReceiptSubscriptionID) -> AsyncStream<Receipt>? {
        let (stream, continuation) = AsyncStream.makeStream(of: Receipt.self, bufferingPolicy: .bufferingNewest(limits.maxPendingPerSubscription))
        let listener = UUID()
        let known = state.withLockedValue { state -> Bool in
            guard state.subscriptions[subscription] != nil else { return false }
            for receipt in state.undelivered[subscription] ?? [] { continuation.yield(receipt) }
            state.listeners[subscription, default: [:]][listener] = continuation
            return true
        }
        guard known else { return nil }
        continuation.onTermination = { [weak self] _ in
            self?.state.withLockedValue { _ = $0.listeners[subscription]?.removeValue(forKey: listener) }
        }
        return stream
    }

    /// A stream wrote `receipt` to its application server: it is forgotten.
    public func delivered(_ receipt: Receipt) async {
        await writes.withLock {
            let waiting = state.withLockedValue { state in state.undelivered[receipt.subscription]?.contains(receipt) ?? false }
            guard waiting else { return }
            do {
                try await store.removeReceipts([receipt])
            } catch {
                logger.error("receipts: could not forget a delivered receipt", metadata: ["error": "\(error)"])
                return
            }
            state.withLockedValue { state in
                state.undelivered[receipt.subscription]?.removeAll { $0 == receipt }
                state.pending[receipt.subscription]? -= 1
            }
        }
    }

    /// Checks expiry once a second until shutdown.
    public func run() async throws {
        while (try? await cancelWhenGracefulShutdown({ try await Task.sleep(for: .seconds(1)) })) != nil {
            await expireDue()
        }
    }
}

extension ReceiptCenter: AcknowledgementObserver {}
