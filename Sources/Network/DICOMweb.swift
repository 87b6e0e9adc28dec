import DICOM
import Foundation

/// A DICOMweb service (PS3.18): base URL and authentication.
///
/// Requests go through libcurl, loaded on first use (`HTTPClient`), rather
/// than URLSession or async-http-client: FoundationNetworking links libcurl
/// and its ~30 libraries into the start of every discport process, and
/// async-http-client costs minutes of every clean build on two cores.
/// HTTP/1.1 with uploads from and downloads to a file is all STOW/QIDO/WADO
/// need here.
public struct DICOMwebEndpoint: Sendable {
    public var baseURL: URL
    /// The Authorization header value (`Basic …`, `Bearer …`), if any.
    public var authorization: String?
    public var timeout: TimeInterval

    public init(baseURL: URL, authorization: String? = nil, timeout: TimeInterval = 60) {
        self.baseURL = baseURL
        self.authorization = authorization
        self.timeout = timeout
    }

    /// `basic:ENV` / `bearer:ENV` as stored with a node, resolved from the environment.
    public static func authorization(_ spec: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String? {
        guard let spec, !spec.isEmpty else { return nil }
        let parts = spec.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2, let secret = environment[parts[1]], !secret.isEmpty else {
            throw DICOMwebError("authentication \(spec): $\(parts.count == 2 ? parts[1] : "?") is not set")
        }
        switch parts[0] {
        case "basic": return "Basic " + Data(secret.utf8).base64EncodedString()
        case "bearer": return "Bearer " + secret
        default: throw DICOMwebError("authentication \(spec): basic or bearer")
        }
    }

    func request(_ path: String, query: [(String, String)] = [], method: String = "GET", accept: String) -> HTTPRequest {
        var components = URLComponents(url: baseURL.appendingPathComponent(path), resolvingAgainstBaseURL: false)!
        if !query.isEmpty { components.queryItems = query.map { URLQueryItem(name: $0.0, value: $0.1) } }
        var request = HTTPRequest(url: components.url!, method: method, timeout: timeout)
        request.setHeader("Accept", accept)
        if let authorization { request.setHeader("Authorization", authorization) }
        return request
    }
}

public struct DICOMwebError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// STOW-RS, QIDO-RS and WADO-RS (PS3.18 §10.5, §10.6, §10.4).
public enum DICOMweb {
    /// The response body is downloaded to a temporary file the caller removes.
    private static func download(_ request: HTTPRequest) async throws -> (URL, HTTPResponse) {
        let file = URL(fileURLWithPath: NSTemporaryDirectory() + "discport-wado-\(UUID().uuidString)")
        do {
            return (file, try await HTTPClient.perform(request, downloadingTo: file))
        } catch {
            try? FileManager.default.removeItem(at: file)
            throw error
        }
    }

    /// Checks the service answers a search (`echo` for a DICOMweb node).
    public static func ping(_ endpoint: DICOMwebEndpoint) async throws -> Int {
        let response = try await HTTPClient.perform(endpoint.request("studies", query: [("limit", "1")], accept: "application/dicom+json"))
        guard (200..<300).contains(response.statusCode) else {
            throw DICOMwebError("HTTP \(response.statusCode) from \(endpoint.baseURL.absoluteString)/studies")
        }
        return response.statusCode
    }

    // MARK: STOW-RS

    /// Stores the files with STOW-RS, `batchBytes` of files per request,
    /// each request body written to a temporary file and uploaded from it.
    /// Every item gets one outcome: success from the Referenced SOP
    /// Sequence, the Failure Reason from the Failed SOP Sequence.
    public static func store(_ items: [StoreItem], endpoint: DICOMwebEndpoint, batchBytes: Int = 32 << 20,
                             report: @escaping @Sendable (SendOutcome) -> Void) async {
        var batch: [StoreItem] = []
        var size = 0
        for item in items {
            batch.append(item)
            size += item.fileSize
            if size >= batchBytes {
                await storeBatch(batch, endpoint: endpoint, report: report)
                batch = []
                size = 0
            }
        }
        if !batch.isEmpty { await storeBatch(batch, endpoint: endpoint, report: report) }
    }

    private static func storeBatch(_ items: [StoreItem], endpoint: DICOMwebEndpoint, report: @Sendable (SendOutcome) -> Void) async {
        let boundary = "discport-\(UUID().uuidString)"
        let body = URL(fileURLWithPath: NSTemporaryDirectory() + "discport-stow-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: body) }
        var included: [StoreItem] = []
        do {
            _ = FileManager.default.createFile(atPath: body.path, contents: nil)
            let out = try FileHandle(forWritingTo: body)
            defer { try? out.close() }
            for item in items {
                if let problem = item.problem {
                    report(SendOutcome(item: item, status: nil, error: problem))
                    continue
                }
                let part: Data
                do {
                    if item.datasetOffset == 0 || item.encodedAs != nil {
                        // A raw data set: STOW takes Part 10 files only. A data
                        // set not encoded as its syntax says (``StoreItem/encodedAs``):
                        // re-encoded in it, never uploaded mislabelled.
                        var file = try DICOMFile(contentsOf: item.path)
                        file.transferSyntax = item.transferSyntax
                        part = try DICOMWriter.encode(file)
                    } else {
                        part = try Data(contentsOf: URL(fileURLWithPath: item.path), options: .alwaysMapped)
                    }
                } catch {
                    report(SendOutcome(item: item, status: nil, error: "cannot read: \(error)"))
                    continue
                }
                out.write(Data("--\(boundary)\r\nContent-Type: application/dicom\r\n\r\n".utf8))
                out.write(part)
                out.write(Data("\r\n".utf8))
                included.append(item)
            }
            out.write(Data("--\(boundary)--\r\n".utf8))
        } catch {
            for item in items { report(SendOutcome(item: item, status: nil, error: "cannot prepare the STOW request: \(error)")) }
            return
        }
        guard !included.isEmpty else { return }
        var request = endpoint.request("studies", method: "POST", accept: "application/dicom+json")
        request.setHeader("Content-Type", "multipart/related; type=\"application/dicom\"; boundary=\(boundary)")
        do {
            let response = try await HTTPClient.perform(request, uploading: body)
            var done: [String: UInt16] = [:]
            var failed: [String: UInt16] = [:]
            if let object = try? JSONSerialization.jsonObject(with: response.body) as? [String: Any] {
                for item in sequence(object["00081199"]) { if let uid = string(item["00081155"]) { done[uid] = 0 } }
                for item in sequence(object["00081198"]) {
                    if let uid = string(item["00081155"]) { failed[uid] = UInt16(truncatingIfNeeded: integer(item["00081197"]) ?? 0x0110) }
                }
            }
            for item in included {
                var outcome = SendOutcome(item: item, status: nil, error: nil, transferSyntaxUID: item.transferSyntax.uid)
                if done[item.sopInstanceUID] != nil {
                    outcome.status = .success
                } else if let reason = failed[item.sopInstanceUID] {
                    outcome.status = DIMSEStatus(reason)
                } else {
                    outcome.error = "HTTP \(response.statusCode): not in the STOW-RS response"
                }
                report(outcome)
            }
        } catch {
            for item in included { report(SendOutcome(item: item, status: nil, error: "\(error)")) }
        }
    }

    private static func sequence(_ element: Any?) -> [[String: Any]] {
        ((element as? [String: Any])?["Value"] as? [Any])?.compactMap { $0 as? [String: Any] } ?? []
    }

    private static func string(_ element: Any?) -> String? {
        ((element as? [String: Any])?["Value"] as? [Any])?.first as? String
    }

    private static func integer(_ element: Any?) -> Int? {
        ((element as? [String: Any])?["Value"] as? [Any])?.first.flatMap { ($0 as? NSNumber)?.intValue }
    }

    // MARK: QIDO-RS

    /// A search: `resource` is `studies`, `series` or
    /// `studies/{uid}/series`; keys by keyword (`PatientName=山田*`).
    /// Returns the DICOM JSON array as received.
    public static func search(_ endpoint: DICOMwebEndpoint, resource: String, keys: [(String, String)],
                              includeFields: [String] = [], limit: Int? = nil) async throws -> Data {
        var query = keys
        for field in includeFields { query.append(("includefield", field)) }
        if let limit { query.append(("limit", String(limit))) }
        let response = try await HTTPClient.perform(endpoint.request(resource, query: query, accept: "application/dicom+json"))
        switch response.statusCode {
        case 200: return response.body
        case 204: return Data("[]".utf8)
        default: throw DICOMwebError("QIDO-RS \(resource): HTTP \(response.statusCode)")
        }
    }

    // MARK: WADO-RS

    /// Retrieves a study (or one series) as Part 10 files; `each` gets
    /// every part's bytes in turn. The response is downloaded to a
    /// temporary file and read from it mapped.
    public static func retrieve(_ endpoint: DICOMwebEndpoint, studyUID: String, seriesUID: String? = nil,
                                each: (Data) throws -> Void) async throws -> Int {
        let path = "studies/\(studyUID)" + (seriesUID.map { "/series/\($0)" } ?? "")
        let request = endpoint.request(path, accept: "multipart/related; type=\"application/dicom\"; transfer-syntax=*")
        let (file, response) = try await download(request)
        defer { try? FileManager.default.removeItem(at: file) }
        guard response.statusCode == 200 else { throw DICOMwebError("WADO-RS \(path): HTTP \(response.statusCode)") }
        let contentType = response.header("Content-Type") ?? ""
        guard let boundary = multipartBoundary(contentType) else {
            throw DICOMwebError("WADO-RS \(path): not a multipart response (\(contentType))")
        }
        let body = try Data(contentsOf: file, options: .alwaysMapped)
        let parts = multipartParts(body, boundary: boundary)
        for part in parts { try each(part) }
        return parts.count
    }

    /// The boundary parameter of a multipart Content-Type.
    public static func multipartBoundary(_ contentType: String) -> String? {
        for parameter in contentType.split(separator: ";") {
            let pair = parameter.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            if pair.count == 2, pair[0].lowercased() == "boundary" {
                return pair[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            }
        }
        return nil
    }

    /// The bodies of a multipart/related message (RFC 2046 §5.1).
    public static func multipartParts(_ body: Data, boundary: String) -> [Data] {
        let delimiter = Data("--\(boundary)".utf8)
        let headerEnd = Data("\r\n\r\n".utf8)
        var parts: [Data] = []
        var search = body.startIndex
        guard var start = body.range(of: delimiter, in: search..<body.endIndex)?.upperBound else { return [] }
        while true {
            // "--" after the delimiter ends the message.
            if body.count >= start - body.startIndex + 2, body[start..<min(start + 2, body.endIndex)] == Data("--".utf8) { break }
            guard let headers = body.range(of: headerEnd, in: start..<body.endIndex) else { break }
            search = headers.upperBound
            guard let next = body.range(of: Data("\r\n".utf8) + delimiter, in: search..<body.endIndex) else { break }
            parts.append(body[headers.upperBound..<next.lowerBound])
            start = next.upperBound
        }
        return parts
    }
}
