import HTTPTypes
import Hummingbird

/// Answers 405 with `Allow` when a known path is asked with a method it does not serve (the
/// router alone would say 404, as if the path did not exist).
struct AllowedMethods<Context: RequestContext>: RouterMiddleware {
    let methods: [String: [HTTPRequest.Method]]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let allowed = methods[request.uri.path], !allowed.contains(request.method) {
            var headers = HTTPFields()
            headers[.allow] = allowed.map(\.rawValue).joined(separator: ", ")
            return Response(status: .methodNotAllowed, headers: headers)
        }
        return try await next(request, context)
    }
}
