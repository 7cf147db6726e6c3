import Logging
import NIOHTTP1
import WebPush

/// Multi-device lists (draft-thomson-webpush-aggregate, filled in as docs/api.md documents):
/// `POST /lists` creates, `GET`/`PATCH`/`DELETE /l/<id>` read, amend and delete, and
/// `POST /lp/<token>` fans one push out to every unexpired member. Every request carries VAPID
/// credentials; the key that created a list is bound to it.
struct ListHandlers: Sendable {
    static let documentMediaType = "application/push-aggregation+json"
    static let mergePatchMediaType = "application/merge-patch+json"
    /// Foreign members an error names at most (the count says how many there were).
    static let namedInErrors = 20

    let policy: PushPolicy
    let registry: Registry
    let fanOut: FanOut
    let receipts: ReceiptHandlers
    let documents = ListDocumentCache()
    let urls: ResourceURLs
    let logger: Logger

    private var limits: ListsConfig { policy.settings.lists }

    // MARK: Create

    func create(_ request: APIRequest) async throws(APIError) -> APIResponse {
        let creator = try policy.requireVAPIDKey(request)
        let document = try decodeDocument(request, mediaType: Self.documentMediaType)
        let now = policy.now
        // Members are resolved and the caps checked inside the registry's write, so concurrent
        // creates and deletes cannot slip past them.
        let list = try await persisting(logger) {
            try await registry.addList { registry throws(APIError) in
                let members = try members(of: document, merging: [:], removals: false, registry: registry)
                guard members.count <= limits.maxMembers else { throw .tooManyMembers(limits.maxMembers) }
                guard registry.listCount(creator: creator) < limits.maxListsPerKey else { throw .tooManyLists(limits.maxListsPerKey) }
                return PushList(id: .random(), pushToken: .random(), creatorKey: creator, members: members, createdAt: now)
            }
        }
        let body = ListCreatedBody(list: urls.url(.list, list.id), endpoint: urls.url(.listPush, list.pushToken), members: list.members.count)
        return .created(location: body.list, push: body.endpoint, body: body)
    }

    // MARK: Read, amend, delete

    func read(_ request: APIRequest, id: ListID) async throws(APIError) -> APIResponse {
        document(of: try await ownedList(id: id, request))
    }

    /// RFC 7396 merge patch: a new member URL adds, `null` removes, an object updates the member
    /// (its own `null` fields removed). Expired members are purged at the same time.
    func amend(_ request: APIRequest, id: ListID) async throws(APIError) -> APIResponse {
        _ = try await ownedList(id: id, request)
        let patch = try decodeDocument(request, mediaType: Self.mergePatchMediaType)
        let now = policy.now
        let updated = try await persisting(logger) {
            try await registry.updateList(id: id) { current throws(APIError) in
                var list = current
                list.members = list.members.filter { !$0.value.isExpired(at: now) }
                list.members = try members(of: patch, merging: list.members, removals: true, registry: registry)
                guard list.members.count <= limits.maxMembers else { throw .tooManyMembers(limits.maxMembers) }
                return list
            }
        }
        guard let updated else { throw .notFound }
        return document(of: updated)
    }

    func delete(_ request: APIRequest, id: ListID) async throws(APIError) -> APIResponse {
        _ = try await ownedList(id: id, request)
        guard try await persisting(logger, { try await registry.removeList(id: id) }) else { throw .notFound }
        return APIResponse(status: .noContent)
    }

    // MARK: Push to a list

    /// Fans one push out to every unexpired member: the same ciphertext, each copy with that
    /// member's `encrypted_key`. Answers once the broker acknowledged every copy: 201 with
    /// `Pushgate-Recipients`, or 207 naming the members whose copy failed.
    func push(_ request: APIRequest, to token: ListPushToken) async throws(APIError) -> APIResponse {
        guard let list = try await reading(logger, { try await registry.list(pushToken: token) }) else { throw .notFound }
        let validated = try policy.validate(request, restrictionKey: list.creatorKey, vapidRequired: true)
        let now = policy.clock()
        let active = list.activeMembers(at: Int64(now.timeIntervalSince1970))
        let subscriptions = try await reading(logger) { try await registry.subscriptions(pushTokens: active.map(\.token)) }
        let recipients = active.compactMap { token, member in subscriptions[token].map { (subscription: $0, member: member) } }
        if let wait = fanOut.limiter.take(recipients.count, for: list.creatorKey) {
            PushgateMetrics.rateLimited("list_fanout").increment()
            throw .fanOutRateExceeded(retryAfter: wait)
        }
        PushgateMetrics.fanOutRecipients.record(recipients.count)
        let receipt = try await receipts.requested(request)
        let message = validated.message(body: request.body)
        // Each member's copy has its own id; with a receipt, one receipt per copy, naming it.
        let ids = MessageID.random(count: recipients.count)
        let copies = recipients.indices.map { (recipient: Recipient.subscription(recipients[$0].subscription, encryptedKey: recipients[$0].member.encryptedKey), id: ids[$0]) }
        if let receipt { try await receipts.track(copies.map(\.id), on: receipt, expiresAt: message.expiresAt) }
        let failures = await fanOut.deliver(message, to: copies)
        if receipt != nil, !failures.isEmpty { await receipts.center.untrack(failures.map { copies[$0.index].id }) }

        let location = urls.url(.message, message.id)
        var headers = receipt.map { receipts.acceptedHeaders(location: location, ttl: message.ttl, receipt: $0) }
            ?? APIResponse.acceptedHeaders(location: location, ttl: message.ttl)
        headers.add(name: "Pushgate-Recipients", value: String(recipients.count))
        if failures.isEmpty { return APIResponse(status: receipt == nil ? .created : .accepted, headers: headers) }
        if failures.count == recipients.count, failures.allSatisfy({ if case .unavailable = $0.error { true } else { false } }) {
            throw .brokerUnavailable  // nothing was sent
        }
        let report = FanOutReportBody(recipients: recipients.count, delivered: recipients.count - failures.count, failed: failures.map { failure in
            let error = APIError(failure.error)
            return .init(member: urls.url(.push, recipients[failure.index].subscription.pushToken), errno: error.errno, message: error.message)
        })
        return .json(.multiStatus, report, headers: headers)
    }

    // MARK: Helpers

    /// The list, if the request's VAPID key created it.
    private func ownedList(id: ListID, _ request: APIRequest) async throws(APIError) -> PushList {
        guard let list = try await reading(logger, { try await registry.findList(id: id) }) else { throw .notFound }
        guard try policy.requireVAPIDKey(request) == list.creatorKey else { throw .notListCreator }
        return list
    }

    /// The list document: active members keyed by push resource URL (the draft's format).
    private func document(of list: PushList) -> APIResponse {
        let now = policy.now
        let body = documents.document(of: list, now: now) { list in
            var members: [String: ListDocumentBody.Member] = [:]
            for (token, member) in list.activeMembers(at: now) {
                members[urls.url(.push, token)] = .init(expires: member.expires.map(RFC3339.format), encryptedKey: member.encryptedKey)
            }
            return APIResponse.json(.ok, ListDocumentBody(members: members)).body
        }
        var headers = HTTPHeaders()
        headers.add(name: "Cache-Control", value: "no-store")
        headers.add(name: "Content-Type", value: Self.documentMediaType)
        return APIResponse(status: .ok, headers: headers, body: body)
    }

    /// `members` with a document or patch applied: a member URL must be a live push resource of
    /// this service (else 400 naming them all); in a patch (`removals`), `null` removes it.
    private func members(of document: ListDocument, merging members: [PushToken: PushList.Member], removals: Bool,
                         registry: Registry) throws(APIError) -> [PushToken: PushList.Member] {
        var members = members
        var foreign: [String] = []
        for (url, value) in document.members {
            let token = urls.identifier(.push, in: url)
            guard let value else {
                guard removals else { throw .invalidListDocument("the value of a member must be an object") }
                if let token { members[token] = nil }
                continue
            }
            guard let token, registry.isSubscription(pushToken: token) else {
                foreign.append(url)
                continue
            }
            members[token] = try value.merged(into: members[token])
        }
        guard foreign.isEmpty else {
            // Named back to the caller, but only so many and so long: a small gzip body must not
            // buy a large answer (issue 15 #10).
            let named = foreign.sorted().prefix(Self.namedInErrors).map { String($0.prefix(256)) }
            throw APIError.notOurPushResources(foreign.count).naming(Array(named))
        }
        return members
    }

    /// The document of a create or patch body: checks the media type, undoes gzip (bounded).
    private func decodeDocument(_ request: APIRequest, mediaType: String) throws(APIError) -> ListDocument {
        guard request.mediaType == mediaType else { throw .unsupportedMediaType(mediaType) }
        var bytes = Array(request.body.readableBytesView)
        switch request.headers.lowercasedTokens("Content-Encoding") {
        case []: break
        case ["gzip"]:
            do {
                bytes = try Gzip.decompress(bytes, limit: limits.maxDocumentBytes)
            } catch .tooLarge {
                throw .payloadTooLarge(limits.maxDocumentBytes)
            } catch {
                throw .invalidListDocument("Content-Encoding: gzip, but the body is not valid gzip")
            }
        default:
            throw .invalidListDocument("the only Content-Encoding accepted is gzip")
        }
        return try ListDocument.decode(bytes)
    }
}
