import 'dart:math';

enum Suit { hearts, spades }

abstract class Shape {
  double area();

  String get label => 'shape';
}

mixin Printable {
  void printSelf() {
    print(toString());
  }
}

class Circle extends Shape with Printable {
  final double radius;

  Circle(this.radius);

  @override
  double area() => pi * radius * radius;

  @override
  String toString() => 'Circle(${formatArea(area())})';
}

typedef ShapeFactory = Shape Function(double);

extension ShapeList on List<Shape> {
  double totalArea() => fold(0, (sum, s) => sum + s.area());
}

String formatArea(double value) {
  return value.toStringAsFixed(2);
}

void main() {
  final shapes = <Shape>[Circle(1), Circle(2)];
  final ShapeFactory make = (r) => Circle(r);
  shapes.add(make(3));
  print(formatArea(shapes.totalArea()));
  shapes.first.printSelf();
}

int sigDemo(int a /* sigcomment */, int b) { // sigcomment
  return a + b;
}
