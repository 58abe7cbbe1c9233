<?php

namespace App\Billing;

use InvalidArgumentException;

interface Discount
{
    public function apply(float $amount): float;
}

trait Loggable
{
    protected function log(string $message): void
    {
        error_log(static::class . ': ' . $message);
    }
}

class PercentDiscount implements Discount
{
    use Loggable;

    private float $percent;

    public function __construct(float $percent)
    {
        if ($percent < 0 || $percent > 100) {
            throw new \InvalidArgumentException("bad percent");
        }
        $this->percent = $percent;
    }

    public function apply(float $amount): float
    {
        $this->log("applying {$this->percent}%");
        return round($amount * (1 - $this->percent / 100), 2);
    }

    public static function half(): self
    {
        return new PercentDiscount(50);
    }
}

function checkout(array $prices, Discount $discount): float
{
    $total = array_sum($prices);
    return $discount->apply($total);
}

echo checkout([10.0, 20.0], PercentDiscount::half());

function sig_demo($a /* sigcomment */, $b) { // sigcomment
    return $a + $b;
}
