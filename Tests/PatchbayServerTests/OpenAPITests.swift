import Foundation
import PatchbayServer
import Testing

@Suite("The OpenAPI document and the routes the server serves")
struct OpenAPITests {
    @Test("every route is in the OpenAPI document with its operation id, and the document has no route the server lacks")
    func routesMatchOpenAPI() throws {
        let document = try #require(try JSONSerialization.jsonObject(with: API.openAPIDocument) as? [String: Any])
        #expect(document["openapi"] as? String == "3.1.0")
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        var documented: Set<String> = []
        for (path, methods) in paths {
            for (method, operation) in methods {
                let id = (operation as? [String: Any])?["operationId"] as? String ?? "?"
                documented.insert("\(method.uppercased()) \(path) \(id)")
            }
        }
        let served = Set(API.routes.map { "\($0.methodName) \($0.path) \($0.operationID)" })
        #expect(served == documented, "served only: \(served.subtracting(documented)); documented only: \(documented.subtracting(served))")
    }

}
