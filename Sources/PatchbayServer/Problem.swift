// Errors as RFC 9457 problem details (`application/problem+json`): a stable `type` URI and `code` per kind of
// failure, a title, the status, and a detail that says what to do. The one place that words HTTP errors.
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

struct Problem: Error, Sendable {
    /// The stable code; `type` is derived from it. Clients branch on these, never on the detail's words.
    enum Code: String, Sendable, CaseIterable {
        case unauthorized, forbidden, notFound = "not_found", invalidRequest = "invalid_request", invalidFlow = "invalid_flow"
        case idempotencyKeyReused = "idempotency_key_reused", idempotencyKeyInFlight = "idempotency_key_in_flight"
        case conflict, draining, payloadTooLarge = "payload_too_large", methodNotAllowed = "method_not_allowed", internalError = "internal"

        var status: HTTPResponse.Status {
            switch self {
            case .unauthorized: .unauthorized
            case .forbidden: .forbidden
            case .notFound: .notFound
            case .invalidRequest, .invalidFlow: .badRequest
            case .idempotencyKeyReused: .unprocessableContent
            case .idempotencyKeyInFlight, .conflict: .conflict
            case .draining: .serviceUnavailable
            case .payloadTooLarge: .contentTooLarge
            case .methodNotAllowed: .methodNotAllowed
            case .internalError: .internalServerError
            }
        }

        var title: String {
            switch self {
            case .unauthorized: "A valid token is required"
            case .forbidden: "The token may not do this"
            case .notFound: "Not found"
            case .invalidRequest: "The request is not valid"
            case .invalidFlow: "The flow is not valid"
            case .idempotencyKeyReused: "The idempotency key was used with another request"
            case .idempotencyKeyInFlight: "A request with this idempotency key is still in progress"
            case .conflict: "The resource is not in a state that allows this"
            case .draining: "The server is shutting down"
            case .payloadTooLarge: "The request body is too large"
            case .methodNotAllowed: "The method is not allowed here"
            case .internalError: "Internal error"
            }
        }
    }

    static let typeBase = "https://patchbay.dev/problems/"

    var code: Code
    var detail: String
    var extra: [String: any Sendable] = [:]

    init(_ code: Code, _ detail: String, extra: [String: any Sendable] = [:]) {
        self.code = code
        self.detail = detail
        self.extra = extra
    }

    var json: [String: Any] {
        var object: [String: Any] = ["type": Self.typeBase + code.rawValue.replacingOccurrences(of: "_", with: "-"), "title": code.title,
                                     "status": Int(code.status.code), "detail": detail, "code": code.rawValue]
        for (key, value) in extra { object[key] = value }
        return object
    }

    func response(instance: String? = nil) -> Response {
        var object = json
        if let instance { object["instance"] = instance }
        var headers: HTTPFields = [.contentType: "application/problem+json"]
        if code == .unauthorized { headers[.wwwAuthenticate] = "Bearer realm=\"patchbay\"" }
        if code == .draining { headers[.retryAfter] = "5" }
        return Response(status: code.status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: JSON.bytes(object))))
    }
}

enum JSON {
    static func bytes(_ object: Any) -> [UInt8] {
        Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8))
    }

    static func response(_ object: Any, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        response(bytes: bytes(object), status: status, headers: headers)
    }

    static func response(bytes: [UInt8], status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var headers = headers
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

/// Answers that cannot change any more, kept by id up to a capacity (the oldest kept is dropped first).
final class AnswerCache: Sendable {
    private let state = Mutex<(answers: [Int64: [UInt8]], order: [Int64])>(([:], []))
    let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    func bytes(of id: Int64) -> [UInt8]? { state.withLock { $0.answers[id] } }

    func keep(_ bytes: [UInt8], for id: Int64) {
        state.withLock { state in
            guard state.answers.updateValue(bytes, forKey: id) == nil else { return }
            state.order.append(id)
            if state.order.count > capacity { state.answers[state.order.removeFirst()] = nil }
        }
    }
}
