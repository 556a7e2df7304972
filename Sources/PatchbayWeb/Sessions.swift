// Who is logged in to the web view: a session per login, kept in this process's memory only, named by a random
// id in an HttpOnly, SameSite=Strict cookie, with its own CSRF token for every form. The session holds the
// token the person logged in with, and every request authenticates it again through the Engine, so a revoked
// or expired token ends the session at once. Owns: sessions, cookies, CSRF checks. Must never know: pages.
import Crypto
import Foundation
import Synchronization

struct WebSession: Sendable {
    let id: String
    /// The token logged in with: authenticated again on every request.
    let token: String
    let csrf: String
    var lastSeen: Date
}

final class WebSessions: Sendable {
    /// A session unused this long is forgotten.
    static let idleLimit: TimeInterval = 12 * 3600
    static let cookie = "pb_session"
    /// The login form's own CSRF cookie (double submit): there is no session yet to hold its token.
    static let loginCookie = "pb_login"
    private let sessions = Mutex<[String: WebSession]>([:])

    /// A new session for a token that authenticated.
    func open(token: String, now: Date) -> WebSession {
        let session = WebSession(id: Self.random(), token: token, csrf: Self.random(), lastSeen: now)
        sessions.withLock { all in
            all = all.filter { now.timeIntervalSince($0.value.lastSeen) < Self.idleLimit }
            all[session.id] = session
        }
        return session
    }

    func session(_ id: String?, now: Date) -> WebSession? {
        guard let id else { return nil }
        return sessions.withLock { all in
            guard var session = all[id], now.timeIntervalSince(session.lastSeen) < Self.idleLimit else {
                all[id] = nil
                return nil
            }
            session.lastSeen = now
            all[id] = session
            return session
        }
    }

    func close(_ id: String) { _ = sessions.withLock { $0.removeValue(forKey: id) } }

    /// 32 random bytes as URL-safe text.
    static func random() -> String {
        let key = SymmetricKey(size: .bits256)
        return key.withUnsafeBytes { Data($0) }.base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    /// Equal, compared in time that does not depend on where they differ.
    static func same(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }

    /// The value of cookie `name` in a Cookie header.
    static func cookie(_ name: String, in header: String?) -> String? {
        for part in (header ?? "").split(separator: ";") {
            let pair = part.trimmingCharacters(in: .whitespaces)
            if pair.hasPrefix(name + "=") { return String(pair.dropFirst(name.count + 1)) }
        }
        return nil
    }

    /// A Set-Cookie value: HttpOnly, SameSite=Strict, for the whole view; `maxAge` 0 deletes it.
    static func setCookie(_ name: String, _ value: String, maxAge: Int? = nil) -> String {
        "\(name)=\(value); Path=/; HttpOnly; SameSite=Strict" + (maxAge.map { "; Max-Age=\($0)" } ?? "")
    }
}

/// An `application/x-www-form-urlencoded` body: every value of every field, in order.
struct FormBody: Sendable {
    let fields: [(name: String, value: String)]

    init(_ text: String) {
        fields = text.split(separator: "&").map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (Self.decode(parts[0]), parts.count > 1 ? Self.decode(parts[1]) : "")
        }
    }

    subscript(name: String) -> String? { fields.first { $0.name == name }?.value }
    func all(_ name: String) -> [String] { fields.filter { $0.name == name }.map(\.value) }

    static func decode(_ text: Substring) -> String {
        let spaced = text.replacingOccurrences(of: "+", with: " ")
        return spaced.removingPercentEncoding ?? spaced
    }
}
