import DICOMCore
import DICOMUL

extension AssociationObserver {
    /// What the two sides negotiated and how the association went (`AssociationInfo`): the
    /// A-ASSOCIATE PDUs (AE titles, presentation contexts, user information), release, abort,
    /// the end; and the checks of each P-DATA-TF against it (order, accepted contexts, maximum
    /// length). Also the transfer syntax of each context, negotiated or inferred from the data.
    struct NegotiationTracker: Sendable {
        /// Keep the A-ASSOCIATE-RQ and -AC as decoded (`Configuration.keepsAssociationPDUs`).
        let keepsAssociationPDUs: Bool
        var info = AssociationInfo()
        private(set) var associateRequest: AssociateRequest?
        private(set) var associateAccept: AssociateAccept?
        /// `TransferSyntax` of each context whose transfer syntax is known (negotiated or inferred),
        /// looked up once per context instead of once per message; emptied when negotiation changes
        /// `info.contexts`. A few pairs searched linearly (at most 128 odd context IDs), not hashed per message.
        private var transferSyntaxes: [(id: UInt8, syntax: TransferSyntax)] = []
        /// `info.maximumLength` and the accepted context IDs of `info.contexts`, kept beside them
        /// for the per-PDU checks (no dictionary lookup, no `NegotiatedContext` copy per PDV).
        private var maximumLength = PerRole<UInt32?>(nil)
        private var acceptedContexts = ContextIDSet()
        private var releaseSent = PerRole(false)

        init(keepsAssociationPDUs: Bool) {
            self.keepsAssociationPDUs = keepsAssociationPDUs
        }

        /// A PDU from `sender`. A P-DATA-TF is only checked for arriving after the end here: its
        /// PDVs are checked by `checkDataTransfer` and `checkContext`.
        mutating func receive(_ pdu: PDU, from sender: PeerRole, at time: Timestamp, streamOffset: Int,
                              findings: inout FindingLog, into events: inout [ObservationEvent]) {
            if info.outcome.isFinished {
                events.append(findings.record(Finding(.unexpectedPDU, .warning, "\(pdu.type) after the association ended (\(info.outcome))",
                                                      time: time, sender: sender, streamOffset: streamOffset)))
            }
            switch pdu {
            case .associateRequest(let rq):
                if sender != .requestor || info.requestTime != nil {
                    events.append(findings.record(Finding(.unexpectedPDU, .error, "A-ASSOCIATE-RQ from the \(sender)" +
                                                          (info.requestTime != nil ? " after the association was requested" : ""),
                                                          time: time, sender: sender, streamOffset: streamOffset)))
                }
                info.requestTime = time
                transferSyntaxes.removeAll()
                if keepsAssociationPDUs { associateRequest = rq }
                info.callingAETitle = rq.fields.callingAETitle.value
                info.calledAETitle = rq.fields.calledAETitle.value
                for case .presentationContextRequest(let pc) in rq.fields.items {
                    info.contexts[pc.contextID] = NegotiatedContext(id: pc.contextID, abstractSyntax: pc.abstractSyntax ?? "",
                                                                    proposedTransferSyntaxes: pc.transferSyntaxes)
                }
                noteUserInformation(rq.fields.userInformation, from: .requestor)
                acceptedContexts = acceptedContextIDs()
            case .associateAccept(let ac):
                if sender != .acceptor {
                    events.append(findings.record(Finding(.unexpectedPDU, .error, "A-ASSOCIATE-AC from the requestor",
                                                          time: time, sender: sender, streamOffset: streamOffset)))
                }
                info.acceptTime = time
                transferSyntaxes.removeAll()
                if keepsAssociationPDUs { associateAccept = ac }
                info.outcome = .established
                for case .presentationContextAccept(let pc) in ac.fields.items {
                    var ctx = info.contexts[pc.contextID] ?? NegotiatedContext(id: pc.contextID, abstractSyntax: "",
                                                                               proposedTransferSyntaxes: [])
                    ctx.result = pc.result
                    ctx.transferSyntax = pc.transferSyntax
                    info.contexts[pc.contextID] = ctx
                }
                noteUserInformation(ac.fields.userInformation, from: .acceptor)
                acceptedContexts = acceptedContextIDs()
            case .associateReject(let rj):
                info.outcome = .rejected(rj)
                info.endTime = time
            case .dataTransfer:
                break
            case .releaseRequest:
                releaseSent[sender] = true
                if case .releaseRequested = info.outcome {} else if !info.outcome.isFinished {
                    info.outcome = .releaseRequested(by: sender)
                }
            case .releaseResponse:
                releaseSent[sender] = true
                info.outcome = .released
                info.endTime = time
            case .abort(let a):
                info.outcome = .aborted(a, by: sender)
                info.endTime = time
            }
        }

        /// The IDs of the accepted contexts of `info.contexts` (no intermediate arrays).
        private func acceptedContextIDs() -> ContextIDSet {
            var ids = ContextIDSet()
            for context in info.contexts.values where context.isAccepted { ids.insert(context.id) }
            return ids
        }

        private mutating func noteUserInformation(_ userInfo: UserInformationItem?, from role: PeerRole) {
            guard let userInfo else { return }
            for sub in userInfo.subItems {
                switch sub {
                case .maximumLength(let m):
                    info.maximumLength[role] = m.maximumLength
                    maximumLength[role] = m.maximumLength
                case .implementationClassUID(let u): info.implementationClassUID[role] = u.value
                case .implementationVersionName(let n): info.implementationVersionName[role] = n.value
                case .roleSelection(let r): info.roleSelection[role, default: [:]][r.sopClassUID.value] = r
                case .userIdentityRequest(let u): info.userIdentityType = u.identityType
                case .asynchronousOperationsWindow, .sopClassExtendedNegotiation, .sopClassCommonExtendedNegotiation,
                     .userIdentityAccept, .unknown:
                    break
                }
            }
        }

        /// A P-DATA-TF of `frameLength` body bytes from `sender`, against the negotiation: after
        /// the association was accepted (or the stream started mid-association), not after the
        /// sender's release, within the receiver's maximum length.
        mutating func checkDataTransfer(frameLength: Int, from sender: PeerRole, at time: Timestamp, streamOffset: Int,
                                        findings: inout FindingLog, into events: inout [ObservationEvent]) {
            if info.requestTime == nil && !info.startedMidStream {
                info.startedMidStream = true
                info.outcome = .unknownStart
                events.append(findings.record(Finding(.startedMidAssociation, .info,
                                                      "no A-ASSOCIATE in the stream: the association started before it; "
                                                      + "transfer syntaxes are inferred from the data",
                                                      time: time, sender: sender, streamOffset: streamOffset)))
            } else if info.acceptTime == nil && !info.startedMidStream {
                events.append(findings.record(Finding(.unexpectedPDU, .error, "P-DATA-TF before the association was accepted",
                                                      time: time, sender: sender, streamOffset: streamOffset)))
            }
            if releaseSent[sender] {
                events.append(findings.record(Finding(.dataAfterRelease, .error,
                                                      "P-DATA-TF from the \(sender) after it sent A-RELEASE-\(sender == .requestor ? "RQ" : "RP")",
                                                      time: time, sender: sender, streamOffset: streamOffset)))
            }
            // PS3.8 §9.3.1 / Annex D.1: a P-DATA-TF variable field may not exceed what the receiver announced.
            if let max = maximumLength[sender.other], max > 0, frameLength > Int(max) {
                events.append(findings.record(Finding(.pduExceedsMaximumLength, .error,
                                                      "P-DATA-TF of \(frameLength) bytes exceeds the \(sender.other)'s maximum length \(max)",
                                                      time: time, sender: sender, streamOffset: streamOffset)))
            }
        }

        /// A PDV on presentation context `id`: it must have been accepted.
        func checkContext(_ id: UInt8, from sender: PeerRole, at time: Timestamp, streamOffset: Int,
                          findings: inout FindingLog, into events: inout [ObservationEvent]) {
            if !info.startedMidStream, !acceptedContexts.contains(id) {
                events.append(findings.record(Finding(.pdvOnUnacceptedContext, .error,
                                                      "PDV on presentation context \(id), which was not accepted",
                                                      time: time, sender: sender, streamOffset: streamOffset)))
            }
        }

        /// The transfer syntax of context `contextID`, when negotiated or inferred already.
        mutating func knownTransferSyntax(for contextID: UInt8) -> TransferSyntax? {
            if let known = transferSyntaxes.first(where: { $0.id == contextID }) { return known.syntax }
            if let uid = info.contexts[contextID]?.transferSyntax, let ts = TransferSyntax(uid: uid, lenient: true) {
                transferSyntaxes.append((contextID, ts))
                return ts
            }
            return nil
        }

        /// The data of context `contextID`, whose transfer syntax was not known, is in `inferred`.
        mutating func noteInferred(_ inferred: TransferSyntax, for contextID: UInt8) {
            var ctx = info.contexts[contextID] ?? NegotiatedContext(id: contextID, abstractSyntax: "", proposedTransferSyntaxes: [])
            ctx.transferSyntax = inferred.uid
            ctx.isInferred = true
            info.contexts[contextID] = ctx
            transferSyntaxes.append((contextID, inferred))
        }

        /// The transport closed, or the capture ended with the association open.
        mutating func connectionClosed(at time: Timestamp, captureEnded: Bool) {
            if !info.outcome.isFinished {
                info.outcome = captureEnded ? .openAtCaptureEnd : .connectionClosed
            }
            info.endTime = info.endTime ?? time
        }
    }
}
