import { readFileSync } from "fs";

export interface Shape {
  name: string;
  area(): number;
}

type Point = { x: number; y: number };

enum Unit {
  Metric,
  Imperial,
}

abstract class Base implements Shape {
  constructor(public name: string) {}

  abstract area(): number;

  describe(unit: Unit): string {
    return `${this.name}: ${formatArea(this.area(), unit)}`;
  }
}

export class Circle extends Base {
  constructor(private radius: number) {
    super("circle");
  }

  area(): number {
    return Math.PI * this.radius * this.radius;
  }
}

export function formatArea(value: number, unit: Unit): string {
  const suffix = unit === Unit.Metric ? "m2" : "ft2";
  return value.toFixed(2) + suffix;
}

function loadShapes(file: string): Shape[] {
  const raw: string = readFileSync(file, "utf8");
  return JSON.parse(raw).map((r: number) => new Circle(r));
}

export const totalArea = (shapes: Shape[]): number =>
  shapes.reduce((sum, s) => sum + s.area(), 0);

declare function log(message: string): void;

module Geometry {
  export function origin(): Point {
    return { x: 0, y: 0 };
  }
}

log(String(totalArea(loadShapes("shapes.json"))));

function sigDemo(a: number /* sigcomment */, b: number): number { // sigcomment
  return a + b;
}
