import DICOMInspect
import DICOMUL
import DICOMNetwork
import NIOConcurrencyHelpers

extension DICOMMetrics {
    /// A tap for one association of our own server (`serve`): its PDUs in both directions go through an
    /// `AssociationObserver` of their own, whose events are counted; the association is active from its
    /// A-ASSOCIATE-AC until the connection closes.
    public func tap(observing configuration: AssociationObserver.Configuration = .counting) -> AssociationTap {
        let state = NIOLockedValueBox((observer: AssociationObserver(configuration: configuration), accepted: false))
        return AssociationTap({ pdu, frame, sender, time in
            self.pdu(pdu, sender: sender, length: pduHeaderLength + frame.body.readableBytes)
            let (events, accepted) = state.withLockedValue { state in
                let events = state.observer.receive(pdu, frame: frame, from: sender, at: time)
                var accepted = false
                if case .associateAccept = pdu, !state.accepted {
                    state.accepted = true
                    accepted = true
                }
                return (events, accepted)
            }
            if accepted { self.associationStarted() }
            events.forEach(self.record)
        }, onClose: { time in
            let (events, accepted) = state.withLockedValue { state in
                (state.observer.connectionClosed(at: time), state.accepted)
            }
            events.forEach(self.record)
            if accepted { self.associationEnded() }
        })
    }
}

extension AssociationObserver.Configuration {
    /// What counting needs: exchanges and findings, without PDU and message events or building the data sets.
    public static var counting: Self {
        var configuration = Self()
        configuration.decodesDataSets = false
        configuration.emitsEvents = false
        return configuration
    }
}
