package com.example.inventory

import kotlin.math.max

const val MAX_ITEMS = 100
val defaultTags: List<String> = listOf("new", "sale")

typealias ItemMap = Map<String, Item>

interface Repository<T> {
    fun find(id: String): T?
    fun save(item: T)
}

enum class Category {
    FOOD,
    TOOLS,
    TOYS
}

data class Item(val id: String, val name: String, val category: Category)

open class BaseStore {
    open fun describe(): String = "store"
}

class InventoryStore(private val capacity: Int) : BaseStore(), Repository<Item> {
    private val items = mutableMapOf<String, Item>()

    override fun find(id: String): Item? = items[id]

    override fun save(item: Item) {
        if (items.size >= limitFor(capacity)) {
            throw IllegalStateException("full")
        }
        items[item.id] = item
    }

    override fun describe(): String {
        val base = super.describe()
        return base + " with " + items.size.toString() + " items"
    }
}

object StoreFactory {
    fun create(): InventoryStore = InventoryStore(MAX_ITEMS)
}

fun limitFor(capacity: Int): Int = max(capacity, 1)

fun main() {
    val store: Repository<Item> = StoreFactory.create()
    store.save(Item("a1", "Hammer", Category.TOOLS))
    println(store.find("a1"))
}

@Suppress("unused") // sigcomment
fun sigDemo(a: Int /* sigcomment */, b: Int): Int { // sigcomment
    return a + b
}
