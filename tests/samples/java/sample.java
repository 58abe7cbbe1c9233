package com.example.orders;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
interface PriceRule {
    double apply(double amount);
}

enum Currency { EUR, USD }

abstract class BaseOrder {
    protected abstract double subtotal();

    public String describe() {
        return String.format("%s %.2f", getClass().getSimpleName(), subtotal());
    }
}

public class Order extends BaseOrder implements PriceRule {
    private final List<Double> amounts = new ArrayList<>();
    private Currency currency = Currency.EUR;

    public Order add(double amount) {
        amounts.add(Objects.requireNonNull(amount));
        return this;
    }

    @Override
    protected double subtotal() {
        double sum = 0;
        for (double a : amounts) {
            sum += a;
        }
        return apply(sum);
    }

    @Override
    public double apply(double amount) {
        return amount > 100 ? amount * 0.9 : amount;
    }

    static class Builder {
        private final Order order = new Order();

        Builder with(double amount) {
            order.add(amount);
            return this;
        }

        Order build() {
            return order;
        }
    }

    public static void main(String[] args) {
        Order order = new Order.Builder().with(40).with(80).build();
        System.out.println(order.describe());
    }
}

@SuppressWarnings("unused") // sigcomment: why
final class SigDemo {
    @Deprecated // sigcomment
    @Override
    public String toString(/* sigcomment */) { return ""; }
}
