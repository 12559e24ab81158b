/// Runs compiled schema nodes over an instance and collects violations.
struct SchemaEvaluator {
    let nodes: [SchemaNode]
    let limit: Int
    private(set) var violations: [SchemaViolation] = []
    /// `$ref` and the in-place applicators recurse without descending into the instance, so a
    /// schema like {"$ref": "#"} would never end: this bounds it.
    private var depth = 0
    private static let maxDepth = 256

    init(nodes: [SchemaNode], limit: Int) {
        self.nodes = nodes
        self.limit = limit
    }

    private var isFull: Bool { violations.count >= limit }

    private mutating func report(_ pointer: String, _ rule: Rule, _ message: String) {
        guard !isFull else { return }
        violations.append(
            SchemaViolation(instancePointer: pointer, keyword: rule.keyword, schemaLocation: rule.location, message: message))
    }

    /// Whether `instance` is valid against node `index`, without recording anything.
    private func matches(_ index: Int, _ instance: JSONValue, at pointer: String) -> Bool {
        var probe = SchemaEvaluator(nodes: nodes, limit: 1)
        probe.depth = depth
        probe.evaluate(index, instance, at: pointer)
        return probe.violations.isEmpty
    }

    mutating func evaluate(_ index: Int, _ instance: JSONValue, at pointer: String) {
        let node = nodes[index]
        if let constant = node.constant {
            if !constant {
                report(pointer, Rule(keyword: "false", location: node.location, check: .allOf([])), "no value is allowed here")
            }
            return
        }
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maxDepth else {
            let rule = Rule(keyword: "$ref", location: node.location, check: .allOf([]))
            return report(pointer, rule, "schema recursion deeper than \(Self.maxDepth) levels")
        }
        for rule in node.rules {
            if isFull { return }
            apply(rule, instance, at: pointer)
        }
    }

    private mutating func apply(_ rule: Rule, _ instance: JSONValue, at pointer: String) {
        switch (rule.check, instance) {
        case (.type(let names), _):
            let name = instance.typeName
            if !(names.contains(name) || (name == "integer" && names.contains("number"))) {
                let expected = names.count == 1 ? names.first ?? "" : "one of " + names.sorted().joined(separator: ", ")
                report(pointer, rule, "expected \(expected), got \(name)")
            }
        case (.enumeration(let values), _):
            if !values.contains(instance) {
                report(pointer, rule, "\(brief(instance)) is not one of \(brief(.array(values)))")
            }
        case (.const(let value), _):
            if instance != value { report(pointer, rule, "must be \(brief(value))") }

        case (.multipleOf(let divisor), .number(let n)):
            if !isMultiple(n, of: divisor) { report(pointer, rule, "\(brief(instance)) is not a multiple of \(format(divisor))") }
        case (.minimum(let bound), .number(let n)):
            if n < bound { report(pointer, rule, "\(brief(instance)) is less than the minimum \(format(bound))") }
        case (.maximum(let bound), .number(let n)):
            if n > bound { report(pointer, rule, "\(brief(instance)) is greater than the maximum \(format(bound))") }
        case (.exclusiveMinimum(let bound), .number(let n)):
            if n <= bound { report(pointer, rule, "\(brief(instance)) must be greater than \(format(bound))") }
        case (.exclusiveMaximum(let bound), .number(let n)):
            if n >= bound { report(pointer, rule, "\(brief(instance)) must be less than \(format(bound))") }

        case (.minLength(let minimum), .string(let s)):
            let length = s.unicodeScalars.count
            if length < minimum { report(pointer, rule, "string of \(length) characters is shorter than \(minimum)") }
        case (.maxLength(let maximum), .string(let s)):
            let length = s.unicodeScalars.count
            if length > maximum { report(pointer, rule, "string of \(length) characters is longer than \(maximum)") }
        case (.pattern(let pattern), .string(let s)):
            if !pattern.matches(s) { report(pointer, rule, "\(brief(instance)) does not match the pattern \(pattern.source)") }

        case (.prefixItems(let schemas), .array(let items)):
            for (i, item) in zip(schemas.indices, items) where !isFull {
                evaluate(schemas[i], item, at: JSONPointer.appending(pointer, i))
            }
        case (.items(let schema, let after), .array(let items)):
            guard items.count > after else { break }
            if nodes[schema].constant == false {
                let extra = JSONPointer.appending(pointer, after)
                report(extra, rule, "unexpected item: at most \(after) allowed, found \(items.count)")
                break
            }
            for i in after..<items.count where !isFull {
                evaluate(schema, items[i], at: JSONPointer.appending(pointer, i))
            }
        case (.contains(let schema, let minimum, let maximum), .array(let items)):
            let matching = items.indices.filter { matches(schema, items[$0], at: JSONPointer.appending(pointer, $0)) }.count
            if matching < minimum {
                report(pointer, rule, "expected at least \(counted(minimum, "matching item")), found \(matching)")
            } else if let maximum, matching > maximum {
                report(pointer, rule, "expected at most \(counted(maximum, "matching item")), found \(matching)")
            }
        case (.minItems(let minimum), .array(let items)):
            if items.count < minimum { report(pointer, rule, "expected at least \(counted(minimum, "item")), found \(items.count)") }
        case (.maxItems(let maximum), .array(let items)):
            if items.count > maximum { report(pointer, rule, "expected at most \(counted(maximum, "item")), found \(items.count)") }
        case (.uniqueItems, .array(let items)):
            var firstIndex: [JSONValue: Int] = [:]
            for (i, item) in items.enumerated() {
                if let earlier = firstIndex.updateValue(i, forKey: item) {
                    report(pointer, rule, "items \(earlier) and \(i) are equal")
                    break
                }
            }

        case (.properties(let schemas), .object(let object)):
            for (name, value) in object.members where !isFull {
                if let schema = schemas[ScalarString(name)] { evaluate(schema, value, at: JSONPointer.appending(pointer, name)) }
            }
        case (.patternProperties(let entries), .object(let object)):
            for (name, value) in object.members {
                for entry in entries where !isFull && entry.pattern.matches(name) {
                    evaluate(entry.schema, value, at: JSONPointer.appending(pointer, name))
                }
            }
        case (.additionalProperties(let schema, let declared, let patterns), .object(let object)):
            for (name, value) in object.members where !isFull {
                if declared.contains(ScalarString(name)) || patterns.contains(where: { $0.matches(name) }) { continue }
                let at = JSONPointer.appending(pointer, name)
                if nodes[schema].constant == false {
                    report(at, rule, "unexpected property \(brief(.string(name)))")
                } else {
                    evaluate(schema, value, at: at)
                }
            }
        case (.propertyNames(let schema), .object(let object)):
            for name in object.keys where !isFull {
                evaluate(schema, .string(name), at: JSONPointer.appending(pointer, name))
            }
        case (.required(let names), .object(let object)):
            for name in names where object[name] == nil {
                report(pointer, rule, "missing required property \(brief(.string(name)))")
            }
        case (.dependentRequired(let dependencies), .object(let object)):
            for (name, required) in dependencies where object[name.string] != nil {
                for other in required where object[other] == nil {
                    report(pointer, rule, "property \(brief(.string(name.string))) requires property \(brief(.string(other)))")
                }
            }
        case (.dependentSchemas(let dependencies), .object(let object)):
            for (name, schema) in dependencies where object[name.string] != nil && !isFull {
                evaluate(schema, instance, at: pointer)
            }
        case (.minProperties(let minimum), .object(let object)):
            if object.count < minimum { report(pointer, rule, "expected at least \(counted(minimum, "property", "properties")), found \(object.count)") }
        case (.maxProperties(let maximum), .object(let object)):
            if object.count > maximum { report(pointer, rule, "expected at most \(counted(maximum, "property", "properties")), found \(object.count)") }

        case (.allOf(let schemas), _):
            for schema in schemas where !isFull { evaluate(schema, instance, at: pointer) }
        case (.anyOf(let schemas), _):
            if !schemas.contains(where: { matches($0, instance, at: pointer) }) {
                report(pointer, rule, "matches none of the \(schemas.count) allowed alternatives")
            }
        case (.oneOf(let schemas), _):
            let matching = schemas.indices.filter { matches(schemas[$0], instance, at: pointer) }
            if matching.isEmpty {
                report(pointer, rule, "matches none of the \(schemas.count) alternatives")
            } else if matching.count > 1 {
                report(pointer, rule, "matches alternatives \(matching.map(String.init).joined(separator: " and ")); exactly one is allowed")
            }
        case (.not(let schema), _):
            if matches(schema, instance, at: pointer) {
                report(pointer, rule, nodes[schema].description ?? "must not match the schema at \(nodes[schema].location)")
            }
        case (.conditional(let condition, let then, let otherwise), _):
            if let branch = matches(condition, instance, at: pointer) ? then : otherwise {
                evaluate(branch, instance, at: pointer)
            }
        case (.ref(let schema), _):
            evaluate(schema, instance, at: pointer)

        default:
            break  // the keyword does not apply to this instance's type
        }
    }
}

/// multipleOf as Python's jsonschema computes it, so both validators agree on floats:
/// exact for integers, and for fractions "is the quotient an integer".
func isMultiple(_ value: Double, of divisor: Double) -> Bool {
    if value.isIntegral && divisor.isIntegral {
        return value.truncatingRemainder(dividingBy: divisor) == 0
    }
    let quotient = value / divisor
    guard quotient.isFinite else { return value.truncatingRemainder(dividingBy: divisor) == 0 }
    return quotient.rounded(.towardZero) == quotient
}

/// A short rendering of a value for messages: long strings and documents are cut.
func brief(_ value: JSONValue) -> String {
    let text = JSONWriter.string(value)
    return text.count <= 60 ? text : text.prefix(57) + "..."
}

func format(_ number: Double) -> String {
    brief(.number(number))
}

/// "1 item", "2 items": a count with its noun in agreement.
private func counted(_ count: Int, _ singular: String, _ plural: String? = nil) -> String {
    "\(count) \(count == 1 ? singular : plural ?? singular + "s")"
}
