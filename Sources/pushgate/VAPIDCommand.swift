import ArgumentParser
import Foundation
import WebPush

/// `pushgate vapid …`: VAPID key tools for application servers.
struct VAPIDCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vapid",
        abstract: "VAPID (RFC 8292) key tools.",
        subcommands: [Generate.self, Verify.self]
    )

    /// `pushgate vapid generate`: a new P-256 key pair in the forms web-push libraries read.
    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a new VAPID key pair: base64url public key, base64url raw private key, and PEM."
        )

        @Flag(help: "Print JSON: {\"publicKey\", \"privateKey\", \"privateKeyPEM\"}.")
        var json = false

        @Option(help: "Also write the PEM private key to this file (mode 0600); an existing file is kept unless --force.")
        var pemFile: String?

        @Flag(help: "Overwrite an existing --pem-file.")
        var force = false

        func run() throws {
            let key = VAPIDSigningKey.generate()
            if let pemFile {
                guard force || !FileManager.default.fileExists(atPath: pemFile) else {
                    printError("\(pemFile) exists: it may hold the key your application servers sign with; pass --force to replace it")
                    throw ExitCode(1)
                }
                guard FileManager.default.createFile(atPath: pemFile, contents: Data(key.pemPrivateKey.utf8), attributes: [.posixPermissions: 0o600]) else {
                    printError("cannot write \(pemFile)")
                    throw ExitCode(1)
                }
            }
            if json {
                let object = ["publicKey": key.publicKey.base64URL, "privateKey": key.base64URLRawPrivateKey, "privateKeyPEM": key.pemPrivateKey]
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
                let data = try encoder.encode(object)
                print(String(decoding: data, as: UTF8.self))
                return
            }
            print("""
                Public key (applicationServerKey; the "vapid" key of a restricted subscription):
                  \(key.publicKey.base64URL)
                Private key, base64url raw (web-push for Node, webpush-go, pushgate send --vapid-key):
                  \(key.base64URLRawPrivateKey)
                Private key, PEM (pywebpush / py-vapid vapid_private_key, OpenSSL):
                \(key.pemPrivateKey)
                """)
            if !key.pemPrivateKey.hasSuffix("\n") { print() }
        }
    }

    /// `pushgate vapid verify`: checks an Authorization header as Pushgate would.
    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify an 'Authorization: vapid t=…, k=…' value for a push service origin (exit 0 valid, 1 invalid)."
        )

        @Option(help: "The push service's origin, e.g. https://push.example.net.")
        var audience: String

        @Option(help: "Require this application server key (base64url), as a restricted subscription does.")
        var key: String?

        @Argument(help: "The header value: vapid t=<JWT>, k=<key>.")
        var authorization: String

        func run() throws {
            let verifier = VAPIDVerifier(origin: audience, cache: nil)
            do throws(VAPIDError) {
                let expected: VAPIDPublicKey? = if let key { try VAPIDPublicKey(base64URL: key) } else { nil }
                let verified = try verifier.verify(authorization: authorization, expectedKey: expected)
                print("valid: key \(verified.key.base64URL), exp \(verified.claims.expiration), sub \(verified.claims.subject ?? "-")")
            } catch {
                print("invalid (HTTP \(error.httpStatus)): \(error)")
                throw ExitCode(1)
            }
        }
    }
}
