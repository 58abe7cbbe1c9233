import Foundation

protocol Shape {
    var name: String { get }
    func area() -> Double
}

struct Circle: Shape {
    let radius: Double
    var name: String { "circle" }

    func area() -> Double {
        return Double.pi * radius * radius
    }
}

class Canvas {
    private var shapes: [Shape] = []

    init() {}

    func add(_ shape: Shape) {
        shapes.append(shape)
    }

    func totalArea() -> Double {
        return shapes.map { $0.area() }.reduce(0, +)
    }

    func report() -> String {
        return format(totalArea())
    }
}

enum Unit {
    case metric, imperial
}

func format(_ value: Double) -> String {
    return String(format: "%.2f", value)
}

let canvas = Canvas()
canvas.add(Circle(radius: 2))
print(canvas.report())

func sigDemo(a: Int /* sigcomment */, b: Int) -> Int { // sigcomment
    return a + b
}
