// The parsers that take untrusted bytes, as libFuzzer targets (issue 15):
//
//   swift build --build-path .build-fuzz --product pushgate-fuzz -Xswiftc -sanitize=fuzzer -Xswiftc -DFUZZING
//   PUSHGATE_FUZZ_TARGET=vapid .build-fuzz/debug/pushgate-fuzz Fuzz/corpus/vapid -max_total_time=60
//
// (`scripts/fuzz.sh` does both, for every target.) Built without `FUZZING`, the same binary replays
// files through the targets: `pushgate-fuzz <target> <file or folder>...` — how a crash the
// fuzzer saved is reproduced and debugged.
import Foundation
import MQTTBridge
import NIOCore
import NIOHTTP1
@testable import Pushgate
import WebPush

/// One parser under test.
enum FuzzTarget: String, CaseIterable {
    /// TTL, Urgency, Topic and Content-Encoding of a push, from header lines `name: value`.
    case pushHeaders = "push-headers"
    /// The RFC 8188 aes128gcm header at the start of a push body.
    case contentCoding = "content-coding"
    /// An `Authorization: vapid t=…, k=…` value: credentials, JWT, key, claims, signature.
    case vapid
    /// A list document or merge patch, also as a gzip body.
    case listDocument = "list-document"
    /// The YAML configuration file.
    case config
    /// What an MQTT broker sends Pushgate's MQTT client: a stream of control packets, read as
    /// MQTT 5 and as 3.1.1.
    case mqttPackets = "mqtt-packets"

    /// An RFC 9110 token character (header names are tokens).
    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
        default: Array("!#$%&'*+-.^_`|~".utf8).contains(byte)
        }
    }

    /// Feeds one input to the parser; every outcome but a crash or a hang is fine.
    func run(_ bytes: [UInt8]) {
        switch self {
        case .pushHeaders:
            var headers = HTTPHeaders()
            for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
                let parts = line.split(separator: ":", maxSplits: 1)
                // What NIO's HTTP/1 parser (or HPACK with header validation) can deliver: a token name.
                guard let name = parts.first, name.utf8.allSatisfy(Self.isTokenByte) else { continue }
                headers.add(name: String(name), value: parts.count > 1 ? String(parts[1].drop { $0 == " " }) : "")
            }
            _ = try? PushHeaders.ttl(headers)
            _ = try? PushHeaders.urgency(headers)
            _ = try? PushHeaders.topic(headers)
            _ = try? PushHeaders.contentEncoding(headers, bodyLength: bytes.count)
        case .contentCoding:
            if let header = try? ContentCodingHeader(parsing: bytes) {
                precondition((try? ContentCodingHeader(parsing: header.encoded())) == header, "re-encoding changed the header")
            }
        case .vapid:
            let text = String(decoding: bytes, as: UTF8.self)
            let verifier = VAPIDVerifier(origin: "https://push.example.net", cache: nil)
            _ = try? verifier.verify(authorization: text, now: Date(timeIntervalSince1970: 1_800_000_000))
            if let credentials = try? VAPIDCredentials(authorization: text) {
                _ = try? VAPIDToken(parsing: credentials.token)
                _ = try? VAPIDPublicKey(base64URL: credentials.key)
            }
        case .listDocument:
            _ = try? ListDocument.decode(bytes)
            if let inflated = try? Gzip.decompress(bytes, limit: 1 << 20) { _ = try? ListDocument.decode(inflated) }
        case .config:
            _ = try? ConfigLoader.parse(yaml: String(decoding: bytes, as: UTF8.self), file: "fuzz.yaml", directory: "/nonexistent")
        case .mqttPackets:
            for version in [MQTTBridgeConfiguration.ProtocolVersion.v5, .v311] {
                var buffer = ByteBuffer(bytes: bytes)
                while let packet = try? MQTTInboundPacket.read(from: &buffer, version: version, maximumPacketSize: 1 << 16) {
                    guard case .publish(let publish) = packet else { continue }
                    // A message read back must write out as the same message.
                    var encoded = ByteBuffer()
                    let header = MQTTPublishHeader(
                        topic: publish.topic, packetID: publish.packetID, retain: publish.retain, duplicate: publish.duplicate,
                        properties: publish.properties.messageProperties)
                    header.write(into: &encoded, payloadLength: publish.payload.count, version: version)
                    encoded.writeBytes(publish.payload)
                    let again = try? MQTTInboundPacket.read(from: &encoded, version: version, maximumPacketSize: 1 << 17)
                    guard case .publish(let reread)? = again else { preconditionFailure("a message read back did not parse again") }
                    precondition(reread.topic == publish.topic && reread.payload == publish.payload && reread.packetID == publish.packetID
                        && reread.properties.messageProperties == publish.properties.messageProperties, "re-encoding changed the message")
                }
            }
        }
    }
}

#if FUZZING
/// The target libFuzzer drives, from `PUSHGATE_FUZZ_TARGET`.
let selectedTarget: FuzzTarget = {
    let name = ProcessInfo.processInfo.environment["PUSHGATE_FUZZ_TARGET"] ?? ""
    guard let target = FuzzTarget(rawValue: name) else {
        fatalError("set PUSHGATE_FUZZ_TARGET to one of: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    return target
}()

/// libFuzzer's entry point.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    selectedTarget.run(size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

/// libFuzzer's driver (in the toolchain's libclang_rt.fuzzer, linked by `-sanitize=fuzzer`).
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

/// The executable's `main`: SwiftPM links a debug executable with `main` renamed to
/// `<module>_main` (so tests can link the module), which leaves libFuzzer's own `main` unused;
/// this hands over to its driver instead. (Where no rename happens, libFuzzer's `main` runs.)
@_cdecl("PushgateFuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzzOneInput(data, size) }
}
#else
/// Replays files (a corpus, or a crash the fuzzer saved) through a target.
@main
enum FuzzReplay {
    static func main() {
        let arguments = CommandLine.arguments.dropFirst()
        guard let name = arguments.first, let target = FuzzTarget(rawValue: name), arguments.count > 1 else {
            print("usage: pushgate-fuzz <\(FuzzTarget.allCases.map(\.rawValue).joined(separator: "|"))> <file or folder>...")
            exit(2)
        }
        var count = 0
        for path in arguments.dropFirst() {
            var isFolder: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: path, isDirectory: &isFolder)
            let files = isFolder.boolValue
                ? ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted().map { "\(path)/\($0)" }
                : [path]
            for file in files {
                guard let data = FileManager.default.contents(atPath: file) else { continue }
                target.run(Array(data))
                count += 1
            }
        }
        print("\(target.rawValue): \(count) inputs replayed")
    }
}
#endif
