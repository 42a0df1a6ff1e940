import DICOMCore

/// The request of a DIMSE-N service (PS3.7 Tables 10.3-1 to 10.3-11; `NGetRequest` and the others
/// of `NService.swift`). N-GET, N-SET, N-ACTION and N-DELETE name their instance with the Requested
/// SOP Class and Instance UIDs, N-EVENT-REPORT and N-CREATE with the Affected ones (N-CREATE's
/// instance is optional: the SCP assigns one when it is absent); N-EVENT-REPORT carries an Event
/// Type ID, N-ACTION an Action Type ID and N-GET an Attribute Identifier List. Each of those is a
/// property of its PS3.7 name on its service's request only.
public struct NRequest<Service: NService>: DIMSERequest, CommandSetCoding {
    public static var commandField: CommandField { Service.requestField }
    public var messageID: UInt16
    public var commandDataSetType: UInt16
    public internal(set) var decodedCommandSet: Dataset?
    /// Requested or Affected SOP Class UID (0000,0003 or 0000,0002).
    var sopClassUID: String
    /// Requested or Affected SOP Instance UID (0000,1001 or 0000,1000).
    var sopInstanceUID: String?
    /// Event Type ID (0000,1002) or Action Type ID (0000,1008).
    var typeID: UInt16 = 0
    /// Attribute Identifier List (0000,1005) of N-GET.
    var attributes: [Tag]?

    init(messageID: UInt16, sopClassUID: String, sopInstanceUID: String?, hasDataSet: Bool) {
        self.messageID = messageID
        self.sopClassUID = sopClassUID
        self.sopInstanceUID = sopInstanceUID
        self.commandDataSetType = hasDataSet ? CommandDataSetType.dataSetPresent : CommandDataSetType.noDataSet
    }

    public init(commandSet: Dataset) throws(DIMSEError) { try self.init(decoding: commandSet) }

    public var commandSet: Dataset { encodedElements }

    /// A SOP instance UID the request requires: every service's but N-CREATE's.
    var requiredSOPInstanceUID: String {
        get { sopInstanceUID ?? "" }
        set { sopInstanceUID = newValue }
    }

    /// The SOP Class UID, Message ID (0000,0110), Command Data Set Type (0000,0800), the SOP
    /// Instance UID and the service's own element, in tag order.
    static var elements: [CommandElement<Self>] {
        switch Service.requestField {
        case .nEventReportRequest:
            [.uid(CommandTag.affectedSOPClassUID, \.sopClassUID), .messageID, .commandDataSetType,
             .uid(CommandTag.affectedSOPInstanceUID, \.requiredSOPInstanceUID), .uint16(CommandTag.eventTypeID, \.typeID)]
        case .nCreateRequest:
            [.uid(CommandTag.affectedSOPClassUID, \.sopClassUID), .messageID, .commandDataSetType,
             .optionalUID(CommandTag.affectedSOPInstanceUID, \.sopInstanceUID)]
        case .nActionRequest: requestedInstance + [.uint16(CommandTag.actionTypeID, \.typeID)]
        case .nGetRequest: requestedInstance + [.optionalTags(CommandTag.attributeIdentifierList, \.attributes)]
        default: requestedInstance  // N-SET-RQ, N-DELETE-RQ
        }
    }

    /// Requested SOP Class UID (0000,0003), Message ID, Command Data Set Type and Requested SOP Instance UID
    /// (0000,1001): how N-GET, N-SET, N-ACTION and N-DELETE requests start.
    private static var requestedInstance: [CommandElement<Self>] {
        [.uid(CommandTag.requestedSOPClassUID, \.sopClassUID), .messageID, .commandDataSetType,
         .uid(CommandTag.requestedSOPInstanceUID, \.requiredSOPInstanceUID)]
    }

    static var placeholder: Self {
        Self(messageID: 0, sopClassUID: "", sopInstanceUID: Service.requestField == .nCreateRequest ? nil : "",
             hasDataSet: false)
    }
}

extension NRequest where Service: NRequestedInstanceService {
    /// With a data set for N-SET (the Modification List), without for N-GET and N-DELETE (theirs never have one).
    public init(messageID: UInt16, requestedSOPClassUID: String, requestedSOPInstanceUID: String) {
        self.init(messageID: messageID, sopClassUID: requestedSOPClassUID, sopInstanceUID: requestedSOPInstanceUID,
                  hasDataSet: Service.requestField == .nSetRequest)
    }

    /// Requested SOP Class UID (0000,0003).
    public var requestedSOPClassUID: String { get { sopClassUID } set { sopClassUID = newValue } }
    /// Requested SOP Instance UID (0000,1001).
    public var requestedSOPInstanceUID: String { get { requiredSOPInstanceUID } set { requiredSOPInstanceUID = newValue } }
}

extension NRequest where Service == NGet {
    public init(messageID: UInt16, requestedSOPClassUID: String, requestedSOPInstanceUID: String,
                attributeIdentifierList: [Tag]? = nil) {
        self.init(messageID: messageID, sopClassUID: requestedSOPClassUID, sopInstanceUID: requestedSOPInstanceUID,
                  hasDataSet: false)
        attributes = attributeIdentifierList
    }

    /// Attribute Identifier List (0000,1005): the attributes asked for; absent means all.
    public var attributeIdentifierList: [Tag]? { get { attributes } set { attributes = newValue } }
}

extension NRequest where Service == NAction {
    public init(messageID: UInt16, requestedSOPClassUID: String, requestedSOPInstanceUID: String,
                actionTypeID: UInt16, hasDataSet: Bool = true) {
        self.init(messageID: messageID, sopClassUID: requestedSOPClassUID, sopInstanceUID: requestedSOPInstanceUID,
                  hasDataSet: hasDataSet)
        typeID = actionTypeID
    }

    /// Requested SOP Class UID (0000,0003).
    public var requestedSOPClassUID: String { get { sopClassUID } set { sopClassUID = newValue } }
    /// Requested SOP Instance UID (0000,1001).
    public var requestedSOPInstanceUID: String { get { requiredSOPInstanceUID } set { requiredSOPInstanceUID = newValue } }
    /// Action Type ID (0000,1008).
    public var actionTypeID: UInt16 { get { typeID } set { typeID = newValue } }
}

extension NRequest where Service == NEventReport {
    public init(messageID: UInt16, affectedSOPClassUID: String, affectedSOPInstanceUID: String,
                eventTypeID: UInt16, hasDataSet: Bool = true) {
        self.init(messageID: messageID, sopClassUID: affectedSOPClassUID, sopInstanceUID: affectedSOPInstanceUID,
                  hasDataSet: hasDataSet)
        typeID = eventTypeID
    }

    /// Affected SOP Class UID (0000,0002).
    public var affectedSOPClassUID: String { get { sopClassUID } set { sopClassUID = newValue } }
    /// Affected SOP Instance UID (0000,1000).
    public var affectedSOPInstanceUID: String { get { requiredSOPInstanceUID } set { requiredSOPInstanceUID = newValue } }
    /// Event Type ID (0000,1002).
    public var eventTypeID: UInt16 { get { typeID } set { typeID = newValue } }
}

extension NRequest where Service == NCreate {
    public init(messageID: UInt16, affectedSOPClassUID: String, affectedSOPInstanceUID: String? = nil,
                hasDataSet: Bool = true) {
        self.init(messageID: messageID, sopClassUID: affectedSOPClassUID, sopInstanceUID: affectedSOPInstanceUID,
                  hasDataSet: hasDataSet)
    }

    /// Affected SOP Class UID (0000,0002).
    public var affectedSOPClassUID: String { get { sopClassUID } set { sopClassUID = newValue } }
    /// Affected SOP Instance UID (0000,1000): optional; when absent the SCP assigns one and returns it.
    public var affectedSOPInstanceUID: String? { get { sopInstanceUID } set { sopInstanceUID = newValue } }
}
