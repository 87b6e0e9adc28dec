import DICOM
import Foundation
import Network
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
}

/// A node that is unknown or cannot be used as configured (a usage error).
public struct RemoteNodeError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
