import Foundation
import MQTTBridge
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import WebPush

/// Multi-device lists (draft-thomson-webpush-aggregate, filled in as the README documents):
/// `POST /lists` creates, `GET`/`PATCH`/`DELETE /l/<id>` read, amend and delete, and
/// `POST /lp/<token>` fans one push out to every unexpired member. Every request carries VAPID
/// credentials; the key that created a list is bound to it.
extension PushService {
    static let aggregationMediaType = "application/push-aggregation+json"
    static let mergePatchMediaType = "application/merge-patch+json"
    /// Concurrent publishers of one fan-out.
    static let fanOutPublishers = 512

    // MARK: Create

    func createList(_ request: ServiceRequest) async throws(PushError) -> ServiceResponse {
        guard let creator = try checkVAPID(request, restrictionKey: nil, required: true) else { throw .missingVAPID }
        let document = try decodeDocument(request, mediaType: Self.aggregationMediaType)
        var members: [String: PushList.Member] = [:]
        var foreign: [String] = []
        for (uri, value) in document {
            guard let token = memberToken(uri) else {
                foreign.append(uri)
                continue
            }
            members[token] = try memberEntry(value, merging: nil, uri: uri)
        }
        guard foreign.isEmpty else { throw PushError.notOurPushResources(foreign.count).naming(foreign.sorted()) }
        guard members.count <= settings.lists.maxMembers else { throw .tooManyMembers(settings.lists.maxMembers) }
        guard registry.listCount(creator: creator) < settings.lists.maxListsPerKey else { throw .tooManyLists(settings.lists.maxListsPerKey) }

        let list = PushList(id: CapabilityToken.make(), pushToken: CapabilityToken.make(), creatorKey: creator,
                            members: members, createdAt: seconds(clock()))
        try await persisting { try await registry.add(list) }
        let location = "\(settings.publicURL)/l/\(list.id)"
        let push = "\(settings.publicURL)/lp/\(list.pushToken)"
        let headers = Self.createdHeaders(location: location, push: push)
        return .json(.created, "{\"list\":\(jsonString(location)),\"endpoint\":\(jsonString(push)),\"members\":\(members.count)}", headers: headers)
    }

    // MARK: Read, amend, delete

    func readList(id: String, _ request: ServiceRequest) throws(PushError) -> ServiceResponse {
        let list = try ownedList(id: id, request)
        return document(of: list)
    }

    /// RFC 7396 merge patch: a new member URI adds, `null` removes, an object updates the member
    /// (its own `null` fields removed). Expired members are purged at the same time.
    func amendList(id: String, _ request: ServiceRequest) async throws(PushError) -> ServiceResponse {
        let list = try ownedList(id: id, request)
        let patch = try decodeDocument(request, mediaType: Self.mergePatchMediaType)
        let now = seconds(clock())
        var changes: [ListChange] = list.members.compactMap { token, member in
            if let expires = member.expires, expires <= now { return .remove(token) }
            return nil
        }
        var members = list.members
        var foreign: [String] = []
        for (uri, value) in patch {
            let token = memberToken(uri, mustExist: !(value is NSNull))
            guard let token else {
                if !(value is NSNull) { foreign.append(uri) }
                continue
            }
            if value is NSNull {
                if members.removeValue(forKey: token) != nil { changes.append(.remove(token)) }
            } else {
                let member = try memberEntry(value, merging: members[token], uri: uri)
                members[token] = member
                changes.append(.upsert(token, member))
            }
        }
        guard foreign.isEmpty else { throw PushError.notOurPushResources(foreign.count).naming(foreign.sorted()) }
        let remaining = members.values.count { member in member.expires.map { $0 > now } ?? true }
        guard remaining <= settings.lists.maxMembers else { throw .tooManyMembers(settings.lists.maxMembers) }
        let finalChanges = changes
        guard let updated = try await persisting({ try await registry.update(listID: id, finalChanges) }) else { throw .notFound }
        return document(of: updated)
    }

    func deleteList(id: String, _ request: ServiceRequest) async throws(PushError) -> ServiceResponse {
        _ = try ownedList(id: id, request)
        _ = try await persisting { try await registry.removeList(id: id) }
        return ServiceResponse(status: .noContent)
    }

    // MARK: Push to a list

    /// Fans one push out to every unexpired member: the same ciphertext, each copy with that
    /// member's `encrypted_key`. Answers once the broker acknowledged every copy: 201 with
    /// `Pushgate-Recipients`, or 207 naming the members whose copy failed.
    func pushToList(token: String, _ request: ServiceRequest) async throws(PushError) -> ServiceResponse {
        guard let list = registry.list(pushToken: token) else { throw .notFound }
        let message = try validate(request, restrictionKey: list.creatorKey, vapidRequired: true)
        let now = clock()
        let active = list.activeMembers(at: seconds(now))
        let subscriptions = registry.subscriptions(pushTokens: active.map(\.token))
        let recipients = active.filter { subscriptions[$0.token] != nil }
        if let wait = fanOutLimiter.take(recipients.count, for: list.creatorKey, now: now) {
            throw .fanOutRateExceeded(retryAfter: wait)
        }
        let messageID = CapabilityToken.make()
        let body = request.body
        // A bounded pool of publishers, each taking the next member: a task per member (10,000
        // at once) cost more in task creation and scheduling than the publishes themselves, and
        // the bridge's window admits only so many in flight anyway.
        let next = NIOLockedValueBox(0)
        let failures = await withTaskGroup(of: [(String, MQTTBridgeError)].self) { group in
            for _ in 0..<min(recipients.count, Self.fanOutPublishers) {
                group.addTask {
                    var failed: [(String, MQTTBridgeError)] = []
                    while true {
                        let index = next.withLockedValue { value in
                            defer { value += 1 }
                            return value
                        }
                        guard index < recipients.count else { return failed }
                        let (token, member) = recipients[index]
                        guard let subscription = subscriptions[token] else { continue }
                        let (outgoing, slotKey) = self.outgoingMessage(message, body: body, id: messageID, to: subscription,
                                                                       encryptedKey: member.encryptedKey)
                        do throws(MQTTBridgeError) {
                            try await self.delivery.deliver(outgoing)
                        } catch {
                            failed.append((token, error))
                            continue
                        }
                        await self.recordSlot(slotKey, topic: outgoing.topic, messageID: messageID)
                    }
                }
            }
            var failures: [(String, MQTTBridgeError)] = []
            for await failed in group { failures += failed }
            return failures
        }
        var headers = acceptedHeaders(messageID: messageID, ttl: message.ttl)
        headers.add(name: "Pushgate-Recipients", value: String(recipients.count))
        if failures.isEmpty { return ServiceResponse(status: .created, headers: headers) }
        if failures.count == recipients.count, failures.allSatisfy({ if case .brokerUnavailable = $0.1 { true } else { false } }) {
            throw .brokerUnavailable(retryAfter: settings.retryAfterSeconds)  // nothing was sent
        }
        let failed = failures.map { token, error in
            let mapped = Self.pushError(error, retryAfter: settings.retryAfterSeconds)
            return "{\"member\":\(jsonString("\(settings.publicURL)/p/\(token)")),\"errno\":\(mapped.errno),\"message\":\(jsonString(mapped.message))}"
        }
        let json = "{\"recipients\":\(recipients.count),\"delivered\":\(recipients.count - failures.count),\"failed\":[\(failed.joined(separator: ","))]}"
        return .json(.multiStatus, json, headers: headers)
    }

    // MARK: Helpers

    /// The list, if the request's VAPID key created it.
    func ownedList(id: String, _ request: ServiceRequest) throws(PushError) -> PushList {
        guard let list = registry.list(id: id) else { throw .notFound }
        guard let key = try checkVAPID(request, restrictionKey: nil, required: true) else { throw .missingVAPID }
        guard key == list.creatorKey else { throw .notListCreator }
        return list
    }

    /// The list document: active members keyed by push resource URL (the draft's format).
    func document(of list: PushList) -> ServiceResponse {
        var object: [String: Any] = [:]
        for (token, member) in list.activeMembers(at: seconds(clock())) {
            var entry: [String: Any] = [:]
            if let expires = member.expires { entry["expires"] = Self.rfc3339(expires) }
            if let key = member.encryptedKey { entry["encrypted_key"] = key }
            object["\(settings.publicURL)/p/\(token)"] = entry
        }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: Self.aggregationMediaType)
        headers.add(name: "Cache-Control", value: "no-store")
        return ServiceResponse(status: .ok, headers: headers, body: ByteBuffer(bytes: data))
    }

    /// The JSON object of a create or patch body: checks the media type, undoes gzip (bounded).
    func decodeDocument(_ request: ServiceRequest, mediaType: String) throws(PushError) -> [String: Any] {
        guard request.mediaType == mediaType else { throw .unsupportedMediaType(mediaType) }
        var bytes = Array(request.body.readableBytesView)
        let codings = request.headers["Content-Encoding"].flatMap { $0.split(separator: ",") }.map { $0.trimmingOWS().lowercased() }
        switch codings {
        case []: break
        case ["gzip"]:
            do {
                bytes = try Gzip.decompress(bytes, limit: settings.lists.maxDocumentBytes)
            } catch .tooLarge {
                throw .payloadTooLarge(settings.lists.maxDocumentBytes)
            } catch {
                throw .invalidListDocument("Content-Encoding: gzip, but the body is not valid gzip")
            }
        default:
            throw .invalidListDocument("the only Content-Encoding accepted is gzip")
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
            throw .invalidListDocument("the body must be a JSON object keyed by member push resource URLs")
        }
        return object
    }

    /// The member's subscription push token, if `uri` is a push resource of this service
    /// (and, when `mustExist`, a live one).
    func memberToken(_ uri: String, mustExist: Bool = true) -> String? {
        let prefix = "\(settings.publicURL)/p/"
        guard uri.hasPrefix(prefix) else { return nil }
        let token = uri.dropFirst(prefix.count)
        guard CapabilityToken.isWellFormed(token) else { return nil }
        guard !mustExist || registry.isSubscription(pushToken: String(token)) else { return nil }
        return String(token)
    }

    /// A member value: `{"expires"?: RFC 3339, "encrypted_key"?: base64url}`, merged into
    /// `existing` per RFC 7396 (a `null` field removes it). Unknown fields are ignored.
    func memberEntry(_ value: Any, merging existing: PushList.Member?, uri: String) throws(PushError) -> PushList.Member {
        guard let fields = value as? [String: Any] else { throw .invalidListDocument("the value of a member must be an object") }
        var member = existing ?? PushList.Member()
        switch fields["expires"] {
        case nil: break
        case is NSNull: member.expires = nil
        case let text as String:
            guard let time = Self.parseRFC3339(text) else { throw .invalidListDocument("\"expires\" '\(text.prefix(40))' is not an RFC 3339 date-time") }
            member.expires = time
        default: throw .invalidListDocument("\"expires\" must be an RFC 3339 date-time string")
        }
        switch fields["encrypted_key"] {
        case nil: break
        case is NSNull: member.encryptedKey = nil
        case let text as String:
            guard let bytes = try? Base64URL.decode(text), (try? ContentCodingHeader(parsing: bytes)) != nil else {
                throw .invalidListDocument("\"encrypted_key\" must be base64url of an aes128gcm message (RFC 8291)")
            }
            member.encryptedKey = text
        default: throw .invalidListDocument("\"encrypted_key\" must be a base64url string")
        }
        return member
    }

    static func parseRFC3339(_ text: String) -> Int64? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        if let date = formatter.date(from: text) { return Int64(date.timeIntervalSince1970) }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text).map { Int64($0.timeIntervalSince1970) }
    }

    static func rfc3339(_ time: Int64) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: Date(timeIntervalSince1970: TimeInterval(time)))
    }

    func seconds(_ date: Date) -> Int64 { Int64(date.timeIntervalSince1970) }
}
