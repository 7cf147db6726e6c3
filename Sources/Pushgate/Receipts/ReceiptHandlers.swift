import Foundation
import Logging
import NIOCore
import NIOHTTP1
import WebPush

/// Receipts over HTTP (RFC 8030 §5.1, §6.3): `POST /receipts` creates a receipt subscription,
/// `GET /rs/<id>` streams its receipts, `DELETE /rs/<id>` ends it; and the part of a push request
/// that asks for a receipt.
struct ReceiptHandlers: Sendable {
    let policy: PushPolicy
    let center: ReceiptCenter
    let urls: ResourceURLs
    let logger: Logger

    /// `POST /receipts`: VAPID required; the key is bound, to bound receipt subscriptions per key.
    func create(_ request: APIRequest) async throws(APIError) -> APIResponse {
        let creator = try policy.requireVAPIDKey(request)
        let subscription: ReceiptSubscription
        do {
            subscription = try await center.create(creator: creator)
        } catch let refusal as ReceiptCenter.Refusal {
            throw APIError(refusal)
        } catch {
            logger.error("receipts: could not create a receipt subscription", metadata: ["error": "\(error)"])
            throw .storageUnavailable
        }
        var headers = HTTPHeaders()
        headers.add(name: "Location", value: urls.url(.receiptSubscription, subscription.id))
        headers.add(name: "Cache-Control", value: "no-store")
        return APIResponse(status: .created, headers: headers)
    }

    /// `DELETE /rs/<id>` (P-62): holding the URL is the permission.
    func delete(_ request: APIRequest, id: ReceiptSubscriptionID) async throws(APIError) -> APIResponse {
        let existed = try await persisting(logger) { try await center.delete(id: id) }
        guard existed else { throw .notFound }
        return APIResponse(status: .noContent)
    }

    /// `GET /rs/<id>`: the receipts waiting, then each as it comes, until the subscription is
    /// deleted; a receipt is forgotten once written. Over HTTP/2, as RFC 8030 §6.3 says: a
    /// PUSH_PROMISE for a `GET` of the message URL, answered `204` (acknowledged) or `410`
    /// (expired), and `404` for the `GET` itself once the subscription is gone (P-61). With
    /// `Accept: text/event-stream` (any HTTP version), as server-sent events instead.
    func stream(_ request: APIRequest, id: ReceiptSubscriptionID) async throws(APIError) -> APIResponse {
        let accepts = request.headers.lowercasedTokens("Accept").map { $0.split(separator: ";").first.map(String.init) ?? $0 }
        let events = accepts.contains("text/event-stream")
        guard events || request.canServerPush else { throw .receiptStreamNotAcceptable }
        let center = self.center, urls = self.urls
        guard let receipts = try await reading(logger, { try await center.receipts(of: id) }) else { throw .notFound }
        if !events { return serverPushes(receipts) }
        let chunks = AsyncStream<ResponseStream.Chunk> { continuation in
            // A comment first, so the client sees the stream open before any receipt.
            continuation.yield(.init(ByteBuffer(string: ": receipts for \(id)\n\n")))
            let forwarding = Task {
                for await receipt in receipts {
                    continuation.yield(.init(Self.event(receipt, urls: urls)) { await center.delivered(receipt) })
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in forwarding.cancel() }
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "text/event-stream")
        headers.add(name: "Cache-Control", value: "no-store")
        return APIResponse(status: .ok, headers: headers, stream: ResponseStream(chunks))
    }

    /// The receipts as HTTP/2 server pushes of the message URLs.
    private func serverPushes(_ receipts: AsyncStream<Receipt>) -> APIResponse {
        let center = self.center, urls = self.urls
        let origin = urls.base.split(separator: "/", omittingEmptySubsequences: true)
        let scheme = String(origin.first?.dropLast() ?? "https"), authority = String(origin.dropFirst().first ?? "")
        let pushes = AsyncStream<ServerPushStream.Push> { continuation in
            let forwarding = Task {
                for await receipt in receipts {
                    let path = String(urls.url(.message, receipt.message).dropFirst(urls.base.count))
                    continuation.yield(.init(scheme: scheme, authority: authority, path: path,
                                             status: receipt.status == .acknowledged ? .noContent : .gone) { await center.delivered(receipt) })
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in forwarding.cancel() }
        }
        // What the GET itself gets once the subscription is gone (P-61).
        return APIResponse(status: .notFound, headers: ["Cache-Control": "no-store"], serverPush: ServerPushStream(pushes))
    }

    /// One receipt as a server-sent event: `event: receipt`, `id: <message id>`, and `data:` the
    /// message URL with the status RFC 8030 §6.3 would push (204 acknowledged, 410 expired).
    static func event(_ receipt: Receipt, urls: ResourceURLs) -> ByteBuffer {
        ByteBuffer(string: "event: receipt\nid: \(raw: receipt.message)\n"
            + #"data: {"message":"\#(urls.url(.message, receipt.message))","status":\#(receipt.status.rawValue)}"# + "\n\n")
    }

    // MARK: Asking for a receipt

    /// The receipt subscription a push asks for (RFC 8030 §5.1): `Prefer: respond-async` with
    /// `Link: <receipt subscription>; rel="urn:ietf:params:push:receipt"`. A Link that does not
    /// name a receipt subscription of this service is 400 (P-39); `respond-async` without one is
    /// 400 too (the application server MUST send it). `nil` when no receipt is asked for.
    func requested(_ request: APIRequest) async throws(APIError) -> ReceiptSubscriptionID? {
        // Most pushes carry neither header: one lookup each, and nothing is parsed.
        guard request.headers.contains(name: "Link") || request.headers.contains(name: "Prefer") else { return nil }
        let targets = LinkHeader.targets("urn:ietf:params:push:receipt", in: request.headers)
        let respondAsync = request.headers.lowercasedTokens("Prefer").contains { $0.hasPrefix("respond-async") }
        guard !targets.isEmpty else {
            if respondAsync { throw .receiptLinkMissing }
            return nil
        }
        guard targets.count == 1, let id = urls.identifier(.receiptSubscription, in: targets[0]),
              try await reading(logger, { try await center.subscription(id: id) }) != nil
        else {
            throw .invalidReceiptSubscription
        }
        return respondAsync ? id : nil
    }

    /// Records the receipt request of `messages` durably, before they are sent.
    func track(_ messages: [MessageID], on subscription: ReceiptSubscriptionID, expiresAt: Int64) async throws(APIError) {
        do {
            try await center.track(messages, on: subscription, expiresAt: expiresAt)
        } catch let refusal as ReceiptCenter.Refusal {
            throw APIError(refusal)
        } catch {
            logger.error("receipts: could not record a receipt request", metadata: ["error": "\(error)"])
            throw .storageUnavailable
        }
    }

    /// The headers of a push accepted with a receipt (P-37): `202` with these.
    func acceptedHeaders(location: String, ttl: Int, receipt: ReceiptSubscriptionID) -> HTTPHeaders {
        var headers = APIResponse.acceptedHeaders(location: location, ttl: ttl)
        headers.add(name: "Link", value: "<\(urls.url(.receiptSubscription, receipt))>; rel=\"urn:ietf:params:push:receipt\"")
        return headers
    }
}

extension APIError {
    /// What a receipt refusal means for the client.
    init(_ refusal: ReceiptCenter.Refusal) {
        self = switch refusal {
        case .tooManySubscriptions(let limit): .tooManyReceiptSubscriptions(limit)
        case .tooManyPending(let limit): .tooManyPendingReceipts(limit)
        case .unknownSubscription: .invalidReceiptSubscription
        }
    }
}
