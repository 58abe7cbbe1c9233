defmodule Inventory.Stock do
  @moduledoc "Keeps item counts."

  alias Inventory.Item

  defstruct items: %{}

  def new, do: %__MODULE__{}

  def add(%__MODULE__{items: items} = stock, %Item{sku: sku}, count) when count > 0 do
    %{stock | items: Map.update(items, sku, count, &(&1 + count))}
  end

  def remove(stock, sku, count) do
    case available(stock, sku) do
      n when n >= count -> {:ok, put_in(stock.items[sku], n - count)}
      _ -> {:error, :insufficient}
    end
  end

  def available(stock, sku), do: Map.get(stock.items, sku, 0)

  defp format_line({sku, count}), do: "#{sku}: #{count}"

  def report(stock) do
    stock.items
    |> Enum.map(&format_line/1)
    |> Enum.join("\n")
  end
end

defprotocol Inventory.Describable do
  def describe(value)
end

defmodule Inventory.CLI do
  def main(_args) do
    Inventory.Stock.new()
    |> Inventory.Stock.add(%Inventory.Item{sku: "a"}, 3)
    |> Inventory.Stock.report()
    |> IO.puts()
  end
end

defmodule SigDemo do
  def sig_demo(a, # sigcomment
               b) do
    a + b
  end
end
