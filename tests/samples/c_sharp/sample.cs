using System;
using System.Collections.Generic;

namespace Inventory
{
    public interface IRepository<T>
    {
        T Find(string id);
        void Save(T item);
    }

    public class Product
    {
        public string Id { get; }
        public decimal Price { get; set; }

        public Product(string id, decimal price)
        {
            Id = id;
            Price = price;
        }
    }

    public class ProductRepository : IRepository<Product>
    {
        private readonly Dictionary<string, Product> _items = new Dictionary<string, Product>();

        public Product Find(string id)
        {
            return _items.TryGetValue(Normalize(id), out var p) ? p : null;
        }

        public void Save(Product item)
        {
            _items[Normalize(item.Id)] = item;
            Console.WriteLine(ProductRepository.Describe(item));
        }

        private static string Normalize(string id) => id.Trim().ToLowerInvariant();

        public static string Describe(Product item)
        {
            return string.Format("{0}: {1}", item.Id, item.Price);
        }
    }

    public static class Program
    {
        public static void Main()
        {
            var repo = new ProductRepository();
            repo.Save(new Product("A1", 9.5m));
            Product found = repo.Find("a1");
            Console.WriteLine(found.Price);
        }
    }
}

class SigDemo
{
    [Obsolete] // sigcomment
    public int Run(int a /* sigcomment */) { return a; }
}
