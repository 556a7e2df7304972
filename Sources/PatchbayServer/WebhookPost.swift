// One HTTP/1.1 POST, over TLS for an https address: what delivering a webhook needs, on the NIO the server
// already links. Foundation's URLSession would do it too, but it links libcurl and some thirty libraries behind
// it into every command of the CLI, whose dynamic loading cost each start about 7 ms (measured with a pair of
// programs that differ only in importing FoundationNetworking). Owns: the request on the wire and its status.
// Must never know: what a notification means or who is told.
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

enum WebhookPost {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// POSTs `body` to `address` with `headers`, and returns the status code of the answer; throws when there
    /// is none within `timeout` (connecting, TLS, writing and reading the answer's head together).
    static func send(to address: String, headers: [(String, String)], body: String, timeout: Duration) async throws -> Int {
        guard let url = URL(string: address), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = url.host, !host.isEmpty else {
            throw Failure(description: "not an http or https address: \(address)")
        }
        let secure = scheme == "https"
        let port = url.port ?? (secure ? 443 : 80)
        let target = (url.path.isEmpty ? "/" : url.path) + (url.query.map { "?" + $0 } ?? "")
        let hostField = url.port.map { "\(host):\($0)" } ?? host
        return try await withThrowingTaskGroup(of: Int.self) { group in
            group.addTask {
                try await exchange(host: host, port: port, secure: secure, target: target, hostField: hostField, headers: headers, body: body)
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw Failure(description: "no answer within \(timeout)")
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
    }

    private static func exchange(host: String, port: Int, secure: Bool, target: String, hostField: String,
                                 headers: [(String, String)], body: String) async throws -> Int {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if secure {
                        let context = try NIOSSLContext(configuration: .makeClientConfiguration())
                        // SNI and the certificate's name check take a host name; an address literal goes without SNI.
                        let named = !isAddressLiteral(host)
                        try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: named ? host : nil))
                    }
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: target)
            head.headers.add(name: "Host", value: hostField)
            for (name, value) in headers { head.headers.add(name: name, value: value) }
            head.headers.add(name: "Content-Length", value: String(body.utf8.count))
            head.headers.add(name: "Connection", value: "close")
            try await outbound.write(.head(head))
            try await outbound.write(.body(.byteBuffer(ByteBuffer(string: body))))
            try await outbound.write(.end(nil))
            for try await part in inbound {
                if case .head(let response) = part { return Int(response.status.code) }
            }
            throw Failure(description: "the connection closed before an answer")
        }
    }
}

/// Whether a URL's host is an IP address ("10.0.0.1", or IPv6, which has colons) rather than a name.
private func isAddressLiteral(_ host: String) -> Bool {
    if host.contains(":") { return true }
    let parts = host.split(separator: ".", omittingEmptySubsequences: false)
    return parts.count == 4 && parts.allSatisfy { UInt8($0) != nil }
}
