#include <iostream>
#include <string>
#include <vector>
#include "shapes.h"

namespace geometry {

struct Point {
    double x;
    double y;
};

class Shape {
public:
    virtual ~Shape() = default;
    virtual double area() const = 0;
    std::string describe() const { return name() + ": " + std::to_string(area()); }

protected:
    virtual std::string name() const { return "shape"; }
};

class Circle : public Shape {
public:
    explicit Circle(double r) : radius_(r) {}
    double area() const override;

private:
    double radius_;
};

double Circle::area() const {
    return 3.14159 * radius_ * radius_;
}

enum class Color { Red, Green };

typedef std::vector<Shape *> ShapeList;

double total_area(const ShapeList &shapes) {
    double sum = 0;
    for (const Shape *s : shapes) {
        sum += s->area();
    }
    return sum;
}

}  // namespace geometry

int main() {
    geometry::Circle c(2.0);
    geometry::ShapeList shapes{&c};
    std::cout << c.describe() << " total " << geometry::total_area(shapes) << std::endl;
    return 0;
}

int sig_demo(int a /* sigcomment */, int b) // sigcomment
{
    return a + b;
}
