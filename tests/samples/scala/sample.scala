package com.example.shapes

import scala.math.Pi

trait Shape {
  def area: Double
  def name: String = getClass.getSimpleName
}

case class Circle(radius: Double) extends Shape {
  def area: Double = Pi * radius * radius
}

case class Rect(width: Double, height: Double) extends Shape {
  def area: Double = width * height
}

enum Color {
  case Red, Green
}

object Geometry {
  val Origin: Double = 0.0
  type Area = Double

  def total(shapes: Seq[Shape]): Area =
    shapes.map(_.area).sum

  def describe(shape: Shape): String =
    s"${shape.name}: ${format(shape.area)}"

  private def format(value: Double): String = f"$value%.2f"

  def main(args: Array[String]): Unit = {
    val shapes = List(Circle(1.0), Rect(2.0, 3.0))
    println(total(shapes))
    shapes.foreach(s => println(describe(s)))
  }
}

object SigDemo {
  def sigDemo(a: Int /* sigcomment */, b: Int): Int = { // sigcomment
    a + b
  }
}
