import DICOM
import Foundation
import Network
import Reconcile
import Store

/// A configured node ready to be talked to: its record, the association
/// parameters for a DIMSE node, the DICOMweb endpoint for a URL node. The
/// network jobs (``SendJob``, ``QueryJob``, ``RetrieveJob``) take one.
public struct RemotePeer: Sendable {
    public var node: RemoteNodeRecord
    public var parameters: AssociationParameters
    /// Set for a DICOMweb node (STOW-RS, QIDO-RS, WADO-RS instead of DIMSE).
    public var endpoint: DICOMwebEndpoint?

    /// - Parameters:
    ///   - callingAE: discport's AE title; default the node's, else DISCPORT.
    ///   - timeout: connection, ARTIM and response timeout (seconds).
    public init(_ node: RemoteNodeRecord, callingAE: String? = nil, timeout: Int = 30) throws(RemoteNodeError) {
        self.node = node
        parameters = AssociationParameters(host: node.host, port: node.port, calledAE: node.aeTitle,
                                           callingAE: callingAE ?? node.callingAE ?? "DISCPORT",
                                           connectTimeout: .seconds(Int64(timeout)), artimTimeout: .seconds(Int64(timeout)),
                                           dimseTimeout: .seconds(Int64(timeout)))
        endpoint = nil
        guard let url = node.url else { return }
        guard let base = URL(string: url), base.scheme == "http" || base.scheme == "https" else {
            throw RemoteNodeError("node \(node.name): \(url) is not an http(s) URL")
        }
        do {
            endpoint = DICOMwebEndpoint(baseURL: base, authorization: try DICOMwebEndpoint.authorization(node.auth), timeout: TimeInterval(timeout))
        } catch {
            throw RemoteNodeError("node \(node.name): \(error)")
        }
    }

    /// The node named `name` in the store's catalog.
    public static func named(_ name: String, in store: InstanceStore, callingAE: String? = nil, timeout: Int = 30) throws -> RemotePeer {
        guard let node = try store.remoteNode(named: name) else {
            let known = try store.remoteNodes().map(\.name)
            throw RemoteNodeError("no node named \(name)" + (known.isEmpty ? " (add one with `discport nodes add`)" : "; known: \(known.joined(separator: ", "))"))
        }
        return try RemotePeer(node, callingAE: callingAE, timeout: timeout)
    }

    /// `AE@host:port`, or the URL of a DICOMweb node.
    public var address: String { node.url ?? "\(node.aeTitle)@\(node.host):\(node.port)" }

    /// Reconciliation candidates from this node (`import --candidates-from`):
    /// its patients by C-FIND (patient root), or with `worklist` the
    /// patients of the Modality Worklist scheduled on `date` (today).
    public func candidates(worklist: Bool = false, date: Date = Date()) -> any CandidateSource {
        guard worklist else { return NetworkCandidates(parameters: parameters) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyyMMdd"
        return WorklistCandidates(parameters: parameters, date: formatter.string(from: date))
    }

    /// `discport echo`: C-ECHO for a DIMSE node, a QIDO-RS request for a
    /// DICOMweb node. Never throws: a failure is in the result. Blocks.
    public func echo() -> EchoResult {
        var result = EchoResult(node: node.name, ok: false)
        let clock = ContinuousClock.now
        do {
            if let endpoint {
                let status = try runBlocking { try await DICOMweb.ping(endpoint) }
                result.ok = true
                result.status = "HTTP \(status)"
                result.seconds = (ContinuousClock.now - clock) / .seconds(1)
            } else {
                let parameters = self.parameters
                let answer = try runBlocking { try await Verification.echo(parameters) }
                result.ok = answer.status == .success
                result.status = answer.status.hex
                result.seconds = answer.seconds
                result.implementationClassUID = answer.peerImplementationClassUID
                result.implementationVersionName = answer.peerImplementationVersionName
                result.maxPduLength = answer.maxPDULength
            }
        } catch {
            result.error = "\(error)"
        }
        return result
    }
}

/// What `discport echo` found.
public struct EchoResult: Sendable, Codable {
    public var node: String
    public var ok: Bool
    /// `0x0000` (C-ECHO) or `HTTP 200` (QIDO-RS).
    public var status: String?
    public var seconds: Double?
    public var implementationClassUID: String?
    public var implementationVersionName: String?
    public var maxPduLength: UInt32?
    /// Why it failed (rejected, aborted, unreachable).
    public var error: String?
}

/// A node that is unknown or cannot be used as configured (a usage error).
public struct RemoteNodeError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
