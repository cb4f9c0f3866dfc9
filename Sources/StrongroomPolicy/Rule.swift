import Foundation

/// One rule of a policy, as written in the file (after validation).
public struct Rule: Hashable, Sendable {
    /// How a rule's resource name is matched.
    public enum Pattern: String, Hashable, Sendable {
        /// The name exactly.
        case literal
        /// Every name that starts with it (`""` matches every name).
        case prefixed
    }

    /// Which resources a rule covers.
    public struct ResourcePattern: Hashable, Sendable {
        /// The resource type.
        public var type: ResourceType
        /// The name, or prefix; the topic for fields; empty for the cluster.
        public var name: String
        /// Literal or prefixed.
        public var pattern: Pattern
        /// For field rules: the JSON pointers covered (each covers its descendants);
        /// empty means every field of the topic.
        public var pointers: [String]

        func matches(name candidate: String) -> Bool {
            switch pattern {
            case .literal: candidate == name
            case .prefixed: candidate.utf8.starts(with: name.utf8)
            }
        }

        /// For allows: true when the requested field lies inside one of the pointers.
        ///
        /// The whole event (`""`) is inside no pointer, not even "every field".
        func covers(pointer candidate: String) -> Bool {
            if candidate.isEmpty { return false }
            if pointers.isEmpty { return true }
            for p in pointers where ResourcePattern.pointer(candidate, isWithin: p) { return true }
            return false
        }

        /// For denies: true when the requested field and one of the pointers overlap either way.
        ///
        /// `/applicant` holds the denied `/applicant/ssn`; the whole event (`""`) overlaps every pointer.
        func overlaps(pointer candidate: String) -> Bool {
            if pointers.isEmpty || candidate.isEmpty { return true }
            for p in pointers
            where ResourcePattern.pointer(candidate, isWithin: p) || ResourcePattern.pointer(p, isWithin: candidate) {
                return true
            }
            return false
        }

        /// True when `candidate` is `p` or a descendant of it (`/address/street` within `/address`).
        static func pointer(_ candidate: String, isWithin p: String) -> Bool {
            guard candidate.utf8.starts(with: p.utf8) else { return false }
            let rest = candidate.utf8.dropFirst(p.utf8.count)
            return rest.isEmpty || rest.first == UInt8(ascii: "/")
        }
    }

    /// The rule's unique id.
    public var id: String
    /// Allow or deny.
    public var effect: Effect
    /// Principal selectors: a principal id, `role:NAME`, or `*` (everyone).
    public var principals: [String]
    /// The actions covered.
    public var actions: [Action]
    /// The resources covered.
    public var resource: ResourcePattern
    /// When set, the rule applies only to requests stating one of these purposes.
    public var purposes: [String]?
    /// Attribute conditions, all of which must hold.
    public var conditions: Conditions
}

/// Attribute conditions of a rule; an absent condition always holds.
public struct Conditions: Hashable, Sendable {
    /// A weekly time window.
    public var time: TimeWindow?
    /// The request's source address must be in one of these blocks.
    public var cidrs: [CIDR]?
    /// When true, the principal's tenant must equal the request's tenant.
    public var tenantMatch: Bool
    /// The request's data classification must be one of these.
    public var classifications: [String]?
    /// The principal's department must be one of these.
    public var departments: [String]?

    /// No conditions.
    public static let none = Conditions(
        time: nil,
        cidrs: nil,
        tenantMatch: false,
        classifications: nil,
        departments: nil
    )

    /// True when there is no condition at all.
    public var isEmpty: Bool {
        time == nil && cidrs == nil && !tenantMatch && classifications == nil && departments == nil
    }
}

/// Days of the week and a clock-time range in one time zone.
///
/// `from` < `to` is the range [from, to) of one day; `from` > `to` crosses midnight
/// ([from, 24:00) ∪ [00:00, to)), and `days` are tested on the local day of the instant.
public struct TimeWindow: Hashable, Sendable {
    /// Allowed local days, 0 = Monday … 6 = Sunday; empty means every day.
    public var days: Set<Int>
    /// Start, in minutes after local midnight.
    public var fromMinute: Int
    /// End (exclusive), in minutes after local midnight.
    public var toMinute: Int
    /// The zone the clock times are in.
    public var zone: TimeZone

    static let dayNames = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]

    /// True when `date` falls in the window.
    public func contains(_ date: Date) -> Bool {
        let seconds = Names.unixSeconds(date) + Int64(zone.secondsFromGMT(for: date))
        let minutesOfDay = Int((seconds % 86_400 + 86_400) % 86_400) / 60
        let dayNumber = (seconds - (seconds % 86_400 + 86_400) % 86_400) / 86_400
        // 1970-01-01 was a Thursday (3 with Monday = 0).
        let weekday = Int(((dayNumber + 3) % 7 + 7) % 7)
        if !days.isEmpty, !days.contains(weekday) { return false }
        if fromMinute <= toMinute { return minutesOfDay >= fromMinute && minutesOfDay < toMinute }
        return minutesOfDay >= fromMinute || minutesOfDay < toMinute
    }
}

/// Why a rule whose scope matched did not apply.
enum RuleMiss: Hashable, Sendable {
    case field
    case purpose
    case time
    case network
    case tenant
    case classification
    case department

    var words: String {
        switch self {
        case .field: "the field is not among its pointers"
        case .purpose: "the stated purpose is not among its purposes"
        case .time: "the time is outside its time window"
        case .network: "the source address is outside its networks"
        case .tenant: "the tenant is not the principal's own"
        case .classification: "the classification is not among its classifications"
        case .department: "the principal's department is not among its departments"
        }
    }
}

extension Rule {
    /// Nil when the rule applies to the request, else the first condition that failed.
    ///
    /// A missing attribute (no purpose, tenant, classification, source address or department)
    /// fails an allow's condition but meets a deny's: denies fail closed.
    func miss(_ principal: Principal, _ resource: Resource, _ context: AuthorizationContext) -> RuleMiss? {
        let isDeny = effect == .deny
        if resource.type == .field {
            let hit =
                isDeny
                ? self.resource.overlaps(pointer: resource.pointer) : self.resource.covers(pointer: resource.pointer)
            if !hit { return .field }
        }
        if let purposes {
            if let purpose = context.purpose {
                if !purposes.contains(purpose) { return .purpose }
            } else if !isDeny {
                return .purpose
            }
        }
        if conditions.isEmpty { return nil }
        if let departments = conditions.departments {
            if let department = principal.department {
                if !departments.contains(department) { return .department }
            } else if !isDeny {
                return .department
            }
        }
        if conditions.tenantMatch {
            if let tenant = principal.tenant, let requested = context.tenant {
                if tenant != requested { return .tenant }
            } else if !isDeny {
                return .tenant
            }
        }
        if let classifications = conditions.classifications {
            if let classification = context.classification {
                if !classifications.contains(classification) { return .classification }
            } else if !isDeny {
                return .classification
            }
        }
        if let cidrs = conditions.cidrs {
            if let address = context.sourceAddress {
                if !cidrs.contains(where: { $0.contains(address) }) { return .network }
            } else if !isDeny && !context.networkAttested {
                return .network
            }
        }
        if let time = conditions.time, !time.contains(context.time) { return .time }
        return nil
    }
}
