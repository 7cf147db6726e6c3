import ArgumentParser
import Foundation
import Pushgate
import WebPushClient
import WebPush

/// `pushgate send`: an application server in one command, to test an install end to end.
struct SendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send",
        abstract: "Encrypt a message for a subscription (RFC 8291), sign VAPID (RFC 8292) and POST it (RFC 8030).",
        discussion: """
            Give the subscription either as --subscription FILE (the JSON a browser or \
            `POST /subscribe` returns: {"endpoint", "keys": {"p256dh", "auth"}}) or as \
            --endpoint, --p256dh and --auth.
            """
    )

    @Option(help: "A JSON file with {\"endpoint\", \"keys\": {\"p256dh\", \"auth\"}}.")
    var subscription: String?
    @Option(help: "The push resource URL.")
    var endpoint: String?
    @Option(help: "The subscription's p256dh key (base64url).")
    var p256dh: String?
    @Option(help: "The subscription's auth secret (base64url).")
    var auth: String?

    @Option(help: "VAPID private key: base64url raw, base64url DER, PEM, or @FILE. A new key is made when absent.")
    var vapidKey: String?
    @Option(help: "The VAPID sub claim, e.g. mailto:ops@example.com.")
    var subject: String?

    @Option(help: "The message text.")
    var message: String = "Hello from pushgate send"
    @Option(help: "Time to live in seconds.")
    var ttl: Int = 60
    @Option(help: "Urgency: very-low, low, normal or high.")
    var urgency: String?
    @Option(help: "Topic (replaces an undelivered message with the same topic).")
    var topic: String?
    @Option(help: "A PEM CA file to trust for an https endpoint.")
    var caFile: String?

    func run() async throws {
        do {
            try await send()
        } catch let exit as ExitCode {
            throw exit
        } catch let validation as ValidationError {
            throw validation
        } catch {
            // One clear line, not a dump of the error's internals.
            printError("send: \(error)")
            throw ExitCode(1)
        }
    }

    private func send() async throws {
        let info = try resolveSubscription()
        let key: VAPIDSigningKey
        if let vapidKey {
            let text: String
            if vapidKey.hasPrefix("@") {
                let path = String(vapidKey.dropFirst())
                guard let contents = try? String(contentsOfFile: path, encoding: .utf8) else { throw SendFailure("cannot read the VAPID key file \(path)") }
                text = contents
            } else {
                text = vapidKey
            }
            do {
                key = try VAPIDSigningKey(string: text)
            } catch {
                throw SendFailure("--vapid-key is not a P-256 private key (base64url raw, base64url DER or PEM): \(error)")
            }
        } else {
            key = .generate()
            printError("no --vapid-key: signing with a new key \(key.publicKey.base64URL) (a restricted subscription will refuse it)")
        }
        let sender = WebPushSender(vapidKey: key, subject: subject)
        let response: HTTPClientResponse
        do {
            response = try await sender.send(Array(message.utf8), to: info, ttl: ttl, urgency: urgency, topic: topic, trustRoots: caFile)
        } catch {
            throw SendFailure("could not send to \(info.endpoint.split(separator: "/", omittingEmptySubsequences: false).prefix(3).joined(separator: "/")): \(error)")
        }
        print("HTTP \(response.status)")
        for name in ["Location", "TTL", "Link", "Retry-After"] {
            if let value = response.header(name) { print("\(name): \(value)") }
        }
        if !response.body.isEmpty { print(String(decoding: response.body, as: UTF8.self)) }
        if !(200..<300).contains(response.status) { throw ExitCode(1) }
    }

    private func resolveSubscription() throws -> PushSubscriptionInfo {
        if let subscription {
            guard let data = FileManager.default.contents(atPath: subscription) else { throw SendFailure("cannot read \(subscription)") }
            guard let info = try? JSONDecoder().decode(PushSubscriptionInfo.self, from: data) else {
                throw SendFailure("\(subscription) is not a subscription: expected {\"endpoint\", \"keys\": {\"p256dh\", \"auth\"}}")
            }
            return info
        }
        guard let endpoint, let p256dh, let auth else {
            throw ValidationError("give --subscription FILE, or all of --endpoint, --p256dh and --auth")
        }
        return PushSubscriptionInfo(endpoint: endpoint, p256dh: p256dh, auth: auth)
    }
}

/// Loads a config file, or prints its errors (file:line:column and hints) and exits with 1.
func loadConfigOrExit(_ path: String) throws -> PushgateConfig {
    do {
        return try ConfigLoader.load(path: path)
    } catch {
        printError(error.description)
        throw ExitCode(1)
    }
}

/// Runs `body`; an error becomes one line on standard error, `<command>: <error>`, and exit 1.
func orExit<T>(_ command: String, _ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch {
        printError("\(command): \(error)")
        throw ExitCode(1)
    }
}

/// Writes a line to standard error.
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// A `send` failure, said in one line.
struct SendFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
