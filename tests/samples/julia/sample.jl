module Shapes

export Shape, Circle, Rectangle, area, perimeter, describe

using LinearAlgebra: norm

const DEFAULT_SCALE = 1.0

abstract type Shape end

struct Circle <: Shape
    radius::Float64
end

mutable struct Rectangle <: Shape
    width::Float64
    height::Float64
end

# Area of a circle (long form) and of a rectangle (short form).
function area(c::Circle)
    return pi * c.radius^2
end

area(r::Rectangle) = r.width * r.height

function perimeter(r::Rectangle)::Float64
    2 * (r.width + r.height)
end

perimeter(c::Circle) = 2 * pi * c.radius

macro checkpositive(ex)
    return :( $(esc(ex)) > 0 || throw(ArgumentError("must be positive")) )
end

function scale!(r::Rectangle, factor::Real=DEFAULT_SCALE)
    @checkpositive factor
    r.width *= factor
    r.height *= factor
    return r
end

function describe(s::Shape)
    a = round(area(s); digits=2)
    p = round(perimeter(s); digits=2)
    println("$(typeof(s)): area=$a perimeter=$p")
    return Base.string(a)
end

function demo()
    r = Rectangle(2.0, 3.0)
    scale!(r, 2.0)
    return describe(r)
end

end # module

function sig_demo(a, #= sigcomment =# b) # sigcomment
    return a + b
end
