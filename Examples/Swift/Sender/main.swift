// An application server in Swift: encrypts a message for a subscription (RFC 8291), signs VAPID
// (RFC 8292) and POSTs it to the push resource (RFC 8030) — what `pushgate send` does too.
//
//   swift run pushgate-example-sender [--subscription subscription.json] [--message TEXT] [--vapid-key KEY]
import Foundation
import WebPushClient
import WebPush

/// Writes a line unbuffered, so "ready" reaches a pipe (scripts, tests) at once.
func say(_ text: String) { FileHandle.standardOutput.write(Data((text + "\n").utf8)) }

func option(_ name: String, _ fallback: String?) -> String? {
    let arguments = CommandLine.arguments
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return fallback }
    return arguments[index + 1]
}

let path = option("--subscription", "subscription.json")!
let message = option("--message", "Hello from Swift")!
let subscription = try JSONDecoder().decode(PushSubscriptionInfo.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
let key = try option("--vapid-key", nil).map { try VAPIDSigningKey(string: $0) } ?? .generate()

let sender = WebPushSender(vapidKey: key, subject: "mailto:ops@example.com")
let response = try await sender.send(Array(message.utf8), to: subscription, ttl: 60)
say("HTTP \(response.status) \(response.header("Location") ?? "")")
exit(response.status == 201 || response.status == 202 ? 0 : 1)
