// Idempotent requests: the first answer to a key is stored, and the same key with the same request gets it
// again. The engine keeps the keys (in the store) for any front end; what a request and an answer are is
// the front end's (the HTTP server passes a hash of the body and the response it sent).
public import Foundation
public import PatchbayStore

@_exported public import struct PatchbayStore.IdempotentAnswer

/// What to do with a request that carries an idempotency key.
public enum IdempotencyClaim: Sendable, Equatable {
    /// The key is new and now this request's: do the work, then `settle` it.
    case proceed
    /// The key's first request finished: answer what it answered.
    case replay(IdempotentAnswer)
    /// The key was used with another request (a different body).
    case mismatch
    /// The key's first request is still being handled.
    case inFlight
}

extension Engine {
    public func claim(idempotencyKey key: String, scope: String, requestHash: String) throws -> IdempotencyClaim {
        guard let stored = try store.claim(idempotencyKey: key, scope: scope, requestHash: requestHash, at: time.now()) else { return .proceed }
        if stored.requestHash != requestHash { return .mismatch }
        return stored.status == nil ? .inFlight : .replay(stored)
    }

    /// Stores the answer a claimed key gets from now on; a nil status releases the key (nothing was done).
    public func settle(idempotencyKey key: String, scope: String, status: Int?, responseJSON: String? = nil, location: String? = nil) throws {
        try store.settle(idempotencyKey: key, scope: scope, status: status, responseJSON: responseJSON, location: location)
    }
}
